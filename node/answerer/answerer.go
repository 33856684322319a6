// Package answerer is where a node decides what leaves: it checks a task
// against the agreement in force, computes the exact cells, applies
// disclosure control, signs the answer and records exactly the signed bytes
// in the audit log before the answer is returned to be sent.
package answerer

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/differencing"
	"github.com/vrs-federation/vrs/node/disclosure"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/extract"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Config configures an Answerer.
type Config struct {
	// Country is the node's country, ISO 3166-1 alpha-3.
	Country string
	// Agreement holds the agreement in force.
	Agreement *agreement.Holder
	// Engine computes exact cells.
	Engine *engine.Engine
	// Audit records every answer, refusal and failure.
	Audit *audit.Log
	// Signer returns the key of the node's current certificate (a function
	// because certificates reload).
	Signer func() crypto.Signer
	// Secret keys the rounding (see disclosure.LoadOrCreateSecret).
	Secret []byte
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Log receives one line per answer; never a record field.
	Log hclog.Logger
	// SoftwareVersion is announced in Hello.
	SoftwareVersion string
	// Random supplies the per-answer pseudonym keys of extracts; it
	// defaults to crypto/rand.Reader.
	Random io.Reader
}

// Answerer answers federation tasks and previews.
type Answerer struct {
	cfg   Config
	log   hclog.Logger
	guard *differencing.Guard
	// answering serializes aggregate answers from the differencing check
	// to the guard's record of them, so that two answers are never both
	// checked against a memory that holds neither.
	answering sync.Mutex
}

// New checks the configuration and returns an Answerer.
func New(cfg Config) (*Answerer, error) {
	switch {
	case cfg.Country == "":
		return nil, errors.New("answerer: no country")
	case cfg.Agreement == nil:
		return nil, errors.New("answerer: no agreement")
	case cfg.Engine == nil:
		return nil, errors.New("answerer: no engine")
	case cfg.Audit == nil:
		return nil, errors.New("answerer: no audit log")
	case cfg.Signer == nil:
		return nil, errors.New("answerer: no signer")
	case len(cfg.Secret) < 16:
		return nil, errors.New("answerer: rounding secret shorter than 16 bytes")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	log := cfg.Log
	if log == nil {
		log = logging.Discard()
	}
	a := &Answerer{cfg: cfg, log: log.Named("answerer"), guard: differencing.New(cfg.Engine)}
	if err := a.remember(); err != nil {
		return nil, err
	}
	return a, nil
}

// remember rebuilds the differencing guard's memory from the audit log:
// every aggregate answer the node has disclosed. A fees_paid answer is
// remembered under the currency it states; answers from before answers
// stated it are left out (with a warning), since the agreement's currency
// may have changed since and a cell remembered under the wrong currency
// would stand for other records.
func (a *Answerer) remember() error {
	var from uint64
	unknownCurrency := 0
	for {
		es, err := a.cfg.Audit.List(from, 1000)
		if err != nil {
			return fmt.Errorf("answerer: read the audit log: %w", err)
		}
		for _, e := range es {
			if e.GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED || e.GetAggregate() == nil {
				continue
			}
			body := &federationv1.AnswerBody{}
			if err := proto.Unmarshal(e.GetAnswer(), body); err != nil {
				return fmt.Errorf("answerer: audit entry %d: %w", e.GetSequence(), err)
			}
			res := body.GetAggregate()
			cur := res.GetFeesCurrency()
			if m, _ := registry.MeasureByID(res.GetMeasure()); m.Sum && cur == "" {
				unknownCurrency++
				continue
			}
			a.guard.Record(e.GetAggregate(), res.GetCells(), cur)
		}
		if len(es) < 1000 {
			if unknownCurrency > 0 {
				a.log.Warn("fees_paid answers without their currency left out of the differencing guard's memory", "answers", unknownCurrency)
			}
			return nil
		}
		from = es[len(es)-1].GetSequence() + 1
	}
}

// Hello returns the node's introduction for the federation stream.
func (a *Answerer) Hello() *federationv1.Hello {
	return &federationv1.Hello{
		SoftwareVersion: a.cfg.SoftwareVersion,
		Country:         a.cfg.Country,
		Agreement:       a.cfg.Agreement.Current().Summary(),
		Capabilities:    []string{"aggregate", "extract"},
	}
}

// outcome is a decision before it is signed.
type outcome struct {
	result      *queryv1.AggregateResult
	extract     *queryv1.ExtractResult
	refusal     *queryv1.Refusal
	failure     string
	explanation []string
}

// decide runs the whole pipeline except signing and auditing.
func (a *Answerer) decide(ag *agreement.Agreement, requester string, q *queryv1.AggregateQuery, x *queryv1.ExtractQuery) outcome {
	switch {
	case q != nil && x != nil:
		return outcome{refusal: &queryv1.Refusal{Code: queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, Reason: "the task holds both an aggregate and an extract query"}}
	case x != nil:
		return a.decideExtract(ag, requester, x)
	case q == nil:
		return outcome{refusal: &queryv1.Refusal{Code: queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, Reason: "the task holds no query"}}
	}
	if r := ag.Check(q, requester); r != nil {
		return outcome{refusal: r, explanation: []string{"refused: " + r.GetReason()}}
	}
	// The cells and the differencing guard must see the same records: an
	// import landing between them would make the guard judge other figures
	// than those sent. So the answer is computed again when the data moved
	// meanwhile (under a busy import, the last attempt stands).
	for attempt := 1; ; attempt++ {
		gen := a.cfg.Engine.Generation()
		out := a.decideAggregate(ag, q)
		if a.cfg.Engine.Generation() == gen || out.result == nil || attempt == maxAttempts {
			return out
		}
	}
}

// maxAttempts bounds how often an aggregate answer is computed again
// because records changed while it was computed.
const maxAttempts = 3

// decideAggregate computes, protects and explains the cells of q.
func (a *Answerer) decideAggregate(ag *agreement.Agreement, q *queryv1.AggregateQuery) outcome {
	raw, st, err := a.cfg.Engine.AggregateStats(q, engine.WithFeesCurrency(ag.FeesCurrency))
	if err != nil {
		// The engine's errors name query parts only, never a record; they
		// still stay in the log rather than in the answer.
		a.log.Error("aggregate failed", "measure", q.GetMeasure(), "error", err)
		return outcome{failure: "the node could not compute the aggregate"}
	}
	rule := disclosure.Rule{MinCell: ag.MinCell, SuppressZeros: ag.SuppressZeros, Rounding: ag.Rounding,
		FeesCurrency: ag.FeesCurrency, Secret: a.cfg.Secret}
	cells, sum, err := disclosure.Apply(rule, q, raw)
	if err != nil {
		a.log.Error("disclosure control failed", "error", err)
		return outcome{failure: "the node could not apply disclosure control"}
	}
	withheld := 0
	if ag.Rounding == disclosure.RoundingNone {
		// Exact values: make sure no suppressed cell, of this answer or an
		// earlier one, can be computed from what would be published.
		g, err := a.guard.Check(q, cells, differencing.Rule{MinCell: ag.MinCell, SuppressZeros: ag.SuppressZeros, FeesCurrency: ag.FeesCurrency})
		if err != nil {
			a.log.Error("differencing check failed", "measure", q.GetMeasure(), "error", err)
			return outcome{failure: "the node could not check the answer against earlier disclosures"}
		}
		for _, i := range g.Withheld {
			cells[i].Value = 0
			cells[i].Status = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
		}
		withheld = len(g.Withheld)
		if g.Exposed > 0 {
			a.log.Warn("suppressed cells already determined by earlier disclosures", "measure", q.GetMeasure(), "cells", g.Exposed)
		}
	}
	res := &queryv1.AggregateResult{
		Measure:  q.GetMeasure(),
		GroupBy:  append([]string(nil), q.GetGroupBy()...),
		Cells:    cells,
		Rounding: ag.Rounding,
		MinCell:  int32(ag.MinCell),
	}
	if m, _ := registry.MeasureByID(q.GetMeasure()); m.Sum {
		res.FeesCurrency = ag.FeesCurrency
	}
	why := explain(ag, q, sum, st)
	if withheld > 0 {
		why = append(why, fmt.Sprintf("%d cells withheld (secondary suppression): with the cells published before, they would let a recipient compute a suppressed cell by subtraction", withheld))
	}
	return outcome{result: res, explanation: why}
}

// decideExtract checks and builds a redacted extract.
func (a *Answerer) decideExtract(ag *agreement.Agreement, requester string, q *queryv1.ExtractQuery) outcome {
	if r := ag.CheckExtract(q, requester); r != nil {
		return outcome{refusal: r, explanation: []string{"refused: " + r.GetReason()}}
	}
	x, _ := ag.Extract(q.GetExtract())
	res, sum, err := extract.Run(a.cfg.Engine, x, q, a.cfg.Random)
	if errors.Is(err, extract.ErrTooLarge) {
		r := &queryv1.Refusal{Code: queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY,
			Reason: fmt.Sprintf("extract %s would cover more than %d incidents, the most %s sends in one answer: shorten the period or add filters", x.Name, extract.MaxRows, ag.Country)}
		return outcome{refusal: r, explanation: []string{"refused: " + r.GetReason()}}
	}
	if err != nil {
		// The extract's errors name the extract and query parts only.
		a.log.Error("extract failed", "extract", x.Name, "error", err)
		return outcome{failure: "the node could not compute the extract"}
	}
	fields := make([]string, len(x.Fields))
	for i, f := range x.Fields {
		fields[i] = f.Field + "=" + f.Generalisation
	}
	out := []string{
		fmt.Sprintf("allowed by agreement %s version %d", ag.Name, ag.Version),
		fmt.Sprintf("extract %s: %d incidents in the period match the filters", x.Name, sum.Matched),
		"only these fields, generalised: " + strings.Join(fields, ", "),
		fmt.Sprintf("%d rows sent", sum.Sent),
	}
	if sum.Generalised > 0 {
		out = append(out, fmt.Sprintf("%d rows sent with their %s generalised further (small_groups = generalise): their combination occurred fewer than k=%d times",
			sum.Generalised, strings.Join(x.QuasiIdentifiers, ", "), x.K))
	}
	if sum.Withheld > 0 {
		out = append(out, fmt.Sprintf("%d rows withheld: their combination of %s occurs fewer than k=%d times",
			sum.Withheld, strings.Join(x.QuasiIdentifiers, ", "), x.K))
	}
	out = append(out, "no national reference: each row has a pseudonym keyed for this answer only, which cannot be linked to any other answer",
		"rows sorted by their values, so their order says nothing about the records")
	return outcome{extract: res, explanation: out}
}

func explain(ag *agreement.Agreement, q *queryv1.AggregateQuery, s disclosure.Summary, st engine.Stats) []string {
	out := []string{fmt.Sprintf("allowed by agreement %s version %d", ag.Name, ag.Version),
		fmt.Sprintf("%d non-empty cells", s.Cells)}
	m, _ := registry.MeasureByID(q.GetMeasure())
	unit := "value"
	if m.Sum {
		unit = "number of migrants paying"
	}
	if s.Suppressed > 0 {
		out = append(out, fmt.Sprintf("%d cells with a %s below min_cell %d suppressed", s.Suppressed, unit, ag.MinCell))
	}
	if s.SuppressedZeros > 0 {
		out = append(out, fmt.Sprintf("%d zero cells suppressed (suppress_zeros)", s.SuppressedZeros))
	}
	if s.Rounded > 0 {
		out = append(out, fmt.Sprintf("%d cells randomly rounded to base 3 (rr3, keyed: the same cell always gets the same value)", s.Rounded))
	}
	if m.Sum {
		out = append(out, fmt.Sprintf("fees summed in %s only, rounded to whole units", ag.FeesCurrency))
		if st.FeesOtherCurrency > 0 {
			out = append(out, fmt.Sprintf("%d incidents with fees in other currencies left out", st.FeesOtherCurrency))
		}
	}
	return out
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Answer answers a task: it decides, signs the AnswerBody, and durably
// records exactly the signed bytes in the audit log before returning. A
// task id answered before gets the answer recorded the first time (signed
// again: the body bytes are identical).
func (a *Answerer) Answer(ctx context.Context, requester string, task *federationv1.Task) (*federationv1.Answer, error) {
	if task.GetTaskId() == "" {
		return nil, errors.New("answer: task has no id")
	}
	if prev, err := a.cfg.Audit.FindTask(task.GetTaskId()); err == nil {
		a.warnIfChanged(prev, task)
		return a.resend(prev)
	} else if !errors.Is(err, audit.ErrNotFound) {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if task.GetAggregate() != nil {
		a.answering.Lock()
		defer a.answering.Unlock()
	}
	ag := a.cfg.Agreement.Current()
	out := a.decide(ag, requester, task.GetAggregate(), task.GetExtract())

	var (
		signed *federationv1.Answer
		prev   *nodev1.AuditEntry
	)
	errRepeated := errors.New("task already answered")
	entry, err := a.cfg.Audit.AppendFunc(ctx, func(seq uint64, at time.Time) (*nodev1.AuditEntry, error) {
		// Appends are serialized, so this second look settles a race
		// between two deliveries of the same task.
		if p, err := a.cfg.Audit.FindTask(task.GetTaskId()); err == nil {
			prev = p
			return nil, errRepeated
		}
		body := &federationv1.AnswerBody{
			TaskId:           task.GetTaskId(),
			RunId:            task.GetRunId(),
			Country:          a.cfg.Country,
			AgreementName:    ag.Name,
			AgreementVersion: ag.Version,
			AgreementHash:    ag.Hash,
			AnsweredAt:       timestamppb.New(at),
			AuditSequence:    seq,
		}
		e := &nodev1.AuditEntry{
			Requester:        requester,
			RunId:            task.GetRunId(),
			TaskId:           task.GetTaskId(),
			Aggregate:        task.GetAggregate(),
			Extract:          task.GetExtract(),
			AgreementVersion: ag.Version,
			AgreementHash:    ag.Hash,
		}
		switch {
		case out.result != nil:
			body.Outcome = &federationv1.AnswerBody_Aggregate{Aggregate: out.result}
			e.Decision = nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED
		case out.extract != nil:
			body.Outcome = &federationv1.AnswerBody_Extract{Extract: out.extract}
			e.Decision = nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED
		case out.refusal != nil:
			body.Outcome = &federationv1.AnswerBody_Refusal{Refusal: out.refusal}
			e.Decision = nodev1.AuditDecision_AUDIT_DECISION_REFUSED
			e.Reason = out.refusal.GetReason()
		default:
			body.Outcome = &federationv1.AnswerBody_Failure{Failure: out.failure}
			e.Decision = nodev1.AuditDecision_AUDIT_DECISION_FAILED
			e.Reason = out.failure
		}
		key := a.cfg.Signer()
		if key == nil {
			return nil, errors.New("no signing key")
		}
		s, err := answer.Sign(key, body)
		if err != nil {
			return nil, err
		}
		signed = s
		e.Answer = s.GetBody()
		return e, nil
	})
	if errors.Is(err, errRepeated) {
		a.warnIfChanged(prev, task)
		return a.resend(prev)
	}
	if err != nil {
		return nil, fmt.Errorf("answer task: %w", err)
	}
	if out.result != nil {
		a.guard.Record(task.GetAggregate(), out.result.GetCells(), ag.FeesCurrency)
	}
	a.log.Info("task answered", "task_id", task.GetTaskId(), "run_id", task.GetRunId(),
		"decision", entry.GetDecision().String(), "measure", task.GetAggregate().GetMeasure(),
		"extract", truncate(task.GetExtract().GetExtract()), "cells", len(out.result.GetCells()),
		"rows", len(out.extract.GetRows()), "audit_sequence", entry.GetSequence())
	return signed, nil
}

// warnIfChanged logs a warning when a task id answered before comes back
// with another query: only a faulty or compromised hub sends that. The
// recorded answer is sent again either way, so nothing new leaves.
func (a *Answerer) warnIfChanged(prev *nodev1.AuditEntry, task *federationv1.Task) {
	if proto.Equal(prev.GetAggregate(), task.GetAggregate()) && proto.Equal(prev.GetExtract(), task.GetExtract()) {
		return
	}
	a.log.Warn("task id answered before came back with a different query; the recorded answer is sent again",
		"task_id", task.GetTaskId(), "audit_sequence", prev.GetSequence(), "requester", prev.GetRequester())
}

// resend signs again the body recorded for a task.
func (a *Answerer) resend(e *nodev1.AuditEntry) (*federationv1.Answer, error) {
	if len(e.GetAnswer()) == 0 {
		return nil, fmt.Errorf("answer: audit entry %d for the task holds no answer", e.GetSequence())
	}
	key := a.cfg.Signer()
	if key == nil {
		return nil, errors.New("answer: no signing key")
	}
	sig, err := key.Sign(rand.Reader, answer.Digest(e.GetAnswer()), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("answer: sign: %w", err)
	}
	a.log.Info("task answered again from the audit log", "task_id", e.GetTaskId(), "audit_sequence", e.GetSequence())
	return &federationv1.Answer{TaskId: e.GetTaskId(), Body: e.GetAnswer(), Signature: sig}, nil
}

// Preview returns exactly what would be sent for a query, or the refusal,
// with an explanation of each decision. It is not a disclosure and is not
// audited.
func (a *Answerer) Preview(ctx context.Context, req *nodev1.PreviewRequest) (*nodev1.PreviewResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ag := a.cfg.Agreement.Current()
	requester := req.GetRecipient()
	if requester == "" && len(ag.Recipients) > 0 {
		requester = ag.Recipients[0]
	}
	q, x := req.GetAggregate(), req.GetExtract()
	if q == nil && x == nil {
		return nil, errors.New("preview: set aggregate or extract")
	}
	out := a.decide(ag, requester, q, x)
	resp := &nodev1.PreviewResponse{Explanation: out.explanation}
	switch {
	case out.result != nil:
		resp.Outcome = &nodev1.PreviewResponse_Aggregate{Aggregate: out.result}
	case out.extract != nil:
		resp.Outcome = &nodev1.PreviewResponse_Extract{Extract: out.extract}
	case out.refusal != nil:
		resp.Outcome = &nodev1.PreviewResponse_Refusal{Refusal: out.refusal}
		if len(resp.Explanation) == 0 {
			resp.Explanation = []string{"refused: " + out.refusal.GetReason()}
		}
	default:
		return nil, errors.New("preview: " + out.failure)
	}
	return resp, nil
}
