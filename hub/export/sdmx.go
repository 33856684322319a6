package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// component is one SDMX dimension or attribute column.
type component struct {
	id, name string
}

// table is a run's regional table laid out as SDMX observations: the
// dimensions FREQ, REF_AREA, INDICATOR, the grouped dimensions, TIME_PERIOD,
// then OBS_VALUE and the observation attributes.
type table struct {
	dims  []component
	attrs []component
	obs   []observation
}

type observation struct {
	key   []string // one value per dimension
	value *int64   // nil when withheld
	attrs []string // one value per attribute; "" when not applicable
}

// Attribute ids, in column order.
var attributes = []component{
	{"OBS_STATUS", "Observation status"},
	{"CONF_STATUS", "Confidentiality status"},
	{"CELL_STATUS", "VRS cell status"},
	{"CONTRIBUTORS", "States whose disclosed value is in the observation"},
	{"SUPPRESSED_BY", "States that suppressed the cell"},
	{"MISSING", "States asked that did not answer"},
}

// dimensionNames are the human names of the registry's dimensions.
var dimensionNames = map[string]string{
	"period.year":       "Year",
	"period.quarter":    "Quarter",
	"period.month":      "Month",
	"citizenship":       "Citizenship",
	"sex":               "Sex",
	"age_band":          "Age band",
	"route.origin":      "Country of origin",
	"route.transit":     "Country of transit",
	"route.destination": "Country of destination",
	"transport_mode":    "Transport mode",
	"iccs":              "Offence (ICCS)",
	"location_type":     "Location type",
	"subdivision":       "Subdivision",
	"document_fraud":    "Document fraud",
	"suspect_role":      "Suspect role",
	"legal_status":      "Legal status",
}

// SDMXID is the SDMX component id of a registry dimension id:
// upper case with '.' as '_', e.g. route.origin → ROUTE_ORIGIN.
func SDMXID(dimension string) string {
	return strings.ToUpper(strings.ReplaceAll(dimension, ".", "_"))
}

// periodFreq is the SDMX frequency of a period dimension, "" for others.
func periodFreq(dimension string) string {
	switch dimension {
	case "period.month":
		return "M"
	case "period.quarter":
		return "Q"
	case "period.year":
		return "A"
	}
	return ""
}

// codeValue is a key value as an SDMX code: an empty value is "_U"
// (unknown), since SDMX ids cannot be empty.
func codeValue(v string) string {
	if v == "" {
		return "_U"
	}
	return v
}

// queryPeriod is the FREQ and TIME_PERIOD of a query's whole period: a
// calendar year, quarter or month gets its own frequency and code; any other
// span gets FREQ "_O" (other) and an ISO 8601 time range start/duration.
func queryPeriod(from, to string) (string, string) {
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil || t.Before(f) {
		return "_O", strings.Trim(from+"/"+to, "/")
	}
	next := t.AddDate(0, 0, 1)
	if f.Day() == 1 && next.Day() == 1 {
		months := (next.Year()-f.Year())*12 + int(next.Month()-f.Month())
		switch {
		case months == 12 && f.Month() == time.January:
			return "A", strconv.Itoa(f.Year())
		case months == 3 && (f.Month()-1)%3 == 0:
			return "Q", fmt.Sprintf("%d-Q%d", f.Year(), (f.Month()-1)/3+1)
		case months == 1:
			return "M", f.Format("2006-01")
		}
		return "_O", fmt.Sprintf("%s/P%dM", from, months)
	}
	days := int(next.Sub(f).Hours()/24 + 0.5)
	return "_O", fmt.Sprintf("%s/P%dD", from, days)
}

// layout builds the SDMX table of a run.
func layout(run *hubv1.Run, o Options) table {
	q := run.GetQuery()
	groupBy := q.GetGroupBy()
	timePos := -1
	for i, d := range groupBy {
		if periodFreq(d) != "" {
			timePos = i
			break
		}
	}
	t := table{attrs: attributes}
	t.dims = append(t.dims,
		component{"FREQ", "Frequency"},
		component{"REF_AREA", "Reference area"},
		component{"INDICATOR", "Indicator"})
	var dimPos []int
	for i, d := range groupBy {
		if i == timePos {
			continue
		}
		name := dimensionNames[d]
		if name == "" {
			name = d
		}
		t.dims = append(t.dims, component{SDMXID(d), name})
		dimPos = append(dimPos, i)
	}
	t.dims = append(t.dims, component{"TIME_PERIOD", "Time period"})

	freq, period := queryPeriod(q.GetPeriodFrom(), q.GetPeriodTo())
	if timePos >= 0 {
		freq = periodFreq(groupBy[timePos])
	}
	indicator := SDMXID(q.GetMeasure())
	for _, c := range run.GetCells() {
		key := []string{freq, o.RefArea, indicator}
		for _, p := range dimPos {
			key = append(key, codeValue(part(c.GetKey(), p)))
		}
		if timePos >= 0 {
			key = append(key, part(c.GetKey(), timePos))
		} else {
			key = append(key, period)
		}
		ob := observation{key: key}
		if !withheld(c.GetStatus()) {
			v := c.GetValue()
			ob.value = &v
		}
		ob.attrs = []string{
			obsStatus(c.GetStatus()),
			confStatus(c.GetStatus()),
			statusName(c.GetStatus()),
			list(c.GetContributors()),
			list(c.GetSuppressedBy()),
			list(c.GetMissing()),
		}
		t.obs = append(t.obs, ob)
	}
	return t
}

func part(key []string, i int) string {
	if i < len(key) {
		return key[i]
	}
	return ""
}

// renderSDMXCSV writes SDMX-CSV 2.0: STRUCTURE, STRUCTURE_ID, ACTION, the
// dimensions, OBS_VALUE, the attributes. A withheld value is an empty field.
func renderSDMXCSV(run *hubv1.Run, o Options) ([]byte, error) {
	t := layout(run, o)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true // RFC 4180
	header := []string{"STRUCTURE", "STRUCTURE_ID", "ACTION"}
	for _, d := range t.dims {
		header = append(header, d.id)
	}
	header = append(header, "OBS_VALUE")
	for _, a := range t.attrs {
		header = append(header, a.id)
	}
	if err := w.Write(header); err != nil {
		return nil, fmt.Errorf("write sdmx-csv: %w", err)
	}
	for _, ob := range t.obs {
		row := []string{"dataflow", o.structureID(), "I"}
		row = append(row, ob.key...)
		if ob.value != nil {
			row = append(row, strconv.FormatInt(*ob.value, 10))
		} else {
			row = append(row, "")
		}
		row = append(row, ob.attrs...)
		if err := w.Write(row); err != nil {
			return nil, fmt.Errorf("write sdmx-csv: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("write sdmx-csv: %w", err)
	}
	return buf.Bytes(), nil
}

// The SDMX-JSON 2.0 data message, as much of it as the hub fills.
type (
	jsonMessage struct {
		Meta jsonMeta `json:"meta"`
		Data jsonData `json:"data"`
	}
	jsonMeta struct {
		Schema           string     `json:"schema"`
		ID               string     `json:"id"`
		Test             bool       `json:"test"`
		Prepared         string     `json:"prepared"`
		ContentLanguages []string   `json:"contentLanguages"`
		Sender           jsonSender `json:"sender"`
	}
	jsonSender struct {
		ID   string `json:"id"`
		Name string `json:"name,omitempty"`
	}
	jsonData struct {
		Structures []jsonStructure `json:"structures"`
		DataSets   []jsonDataSet   `json:"dataSets"`
	}
	jsonStructure struct {
		Links      []jsonLink   `json:"links"`
		Name       string       `json:"name"`
		Dimensions jsonLevels   `json:"dimensions"`
		Measures   jsonMeasures `json:"measures"`
		Attributes jsonLevels   `json:"attributes"`
	}
	jsonLink struct {
		URN string `json:"urn"`
		Rel string `json:"rel"`
	}
	jsonLevels struct {
		DataSet     []jsonComponent `json:"dataSet"`
		Series      []jsonComponent `json:"series"`
		Observation []jsonComponent `json:"observation"`
	}
	jsonMeasures struct {
		Observation []jsonComponent `json:"observation"`
	}
	jsonComponent struct {
		ID          string         `json:"id"`
		Name        string         `json:"name"`
		KeyPosition *int           `json:"keyPosition,omitempty"`
		Roles       []string       `json:"roles,omitempty"`
		Values      []jsonValue    `json:"values"`
		Relation    map[string]any `json:"relationship,omitempty"`
	}
	jsonValue struct {
		ID    string `json:"id,omitempty"`
		Name  string `json:"name,omitempty"`
		Value string `json:"value,omitempty"`
	}
	jsonDataSet struct {
		Structure      int              `json:"structure"`
		Action         string           `json:"action"`
		ReportingBegin string           `json:"reportingBegin,omitempty"`
		ReportingEnd   string           `json:"reportingEnd,omitempty"`
		Observations   map[string][]any `json:"observations"`
	}
)

// valueIndex numbers the distinct values of one component in order of first
// appearance.
type valueIndex struct {
	ids   []string
	index map[string]int
}

func (v *valueIndex) add(id string) int {
	if v.index == nil {
		v.index = map[string]int{}
	}
	if i, ok := v.index[id]; ok {
		return i
	}
	v.index[id] = len(v.ids)
	v.ids = append(v.ids, id)
	return len(v.ids) - 1
}

// renderSDMXJSON writes an SDMX-JSON 2.0 data message: every dimension at
// observation level, observations keyed by the colon-joined value indexes,
// each observation [OBS_VALUE, attribute value indexes...] with null for a
// withheld value or an empty attribute.
func renderSDMXJSON(run *hubv1.Run, o Options) ([]byte, error) {
	t := layout(run, o)
	dimVals := make([]valueIndex, len(t.dims))
	attrVals := make([]valueIndex, len(t.attrs))
	obs := map[string][]any{}
	for _, ob := range t.obs {
		idx := make([]string, len(ob.key))
		for i, v := range ob.key {
			idx[i] = strconv.Itoa(dimVals[i].add(v))
		}
		arr := []any{nil}
		if ob.value != nil {
			arr[0] = *ob.value
		}
		for i, v := range ob.attrs {
			if v == "" {
				arr = append(arr, nil)
				continue
			}
			arr = append(arr, attrVals[i].add(v))
		}
		obs[strings.Join(idx, ":")] = arr
	}

	st := jsonStructure{
		Links: []jsonLink{{URN: o.URN(), Rel: "dataflow"}},
		Name:  "Smuggling of migrants: " + run.GetQuery().GetMeasure(),
		Dimensions: jsonLevels{
			DataSet: []jsonComponent{}, Series: []jsonComponent{}, Observation: []jsonComponent{},
		},
		Measures: jsonMeasures{Observation: []jsonComponent{{ID: "OBS_VALUE", Name: "Observation value", Values: []jsonValue{}}}},
		Attributes: jsonLevels{
			DataSet: []jsonComponent{}, Series: []jsonComponent{}, Observation: []jsonComponent{},
		},
	}
	for i, d := range t.dims {
		pos := i
		c := jsonComponent{ID: d.id, Name: d.name, KeyPosition: &pos, Values: []jsonValue{}}
		if d.id == "TIME_PERIOD" {
			c.Roles = []string{"TIME_PERIOD"}
		}
		for _, v := range dimVals[i].ids {
			jv := jsonValue{ID: v, Name: v}
			if d.id == "TIME_PERIOD" {
				jv.Value = v
			}
			c.Values = append(c.Values, jv)
		}
		st.Dimensions.Observation = append(st.Dimensions.Observation, c)
	}
	for i, a := range t.attrs {
		c := jsonComponent{ID: a.id, Name: a.name, Values: []jsonValue{}, Relation: map[string]any{"observation": map[string]any{}}}
		for _, v := range attrVals[i].ids {
			c.Values = append(c.Values, jsonValue{ID: v, Name: v})
		}
		st.Attributes.Observation = append(st.Attributes.Observation, c)
	}
	msg := jsonMessage{
		Meta: jsonMeta{
			Schema:           "https://raw.githubusercontent.com/sdmx-twg/sdmx-json/v2.0.0/data-message/tools/schemas/2.0.0/sdmx-json-data-schema.json",
			ID:               "VRS-" + safeName(run.GetId()),
			Prepared:         o.Prepared.UTC().Format(time.RFC3339),
			ContentLanguages: []string{"en"},
			Sender:           jsonSender{ID: o.Sender},
		},
		Data: jsonData{
			Structures: []jsonStructure{st},
			DataSets: []jsonDataSet{{
				Structure:      0,
				Action:         "Information",
				ReportingBegin: run.GetQuery().GetPeriodFrom(),
				ReportingEnd:   run.GetQuery().GetPeriodTo(),
				Observations:   obs,
			}},
		},
	}
	b, err := json.MarshalIndent(msg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write sdmx-json: %w", err)
	}
	return append(b, '\n'), nil
}

// renderCSV writes the tidy CSV: one row per cell with the group_by
// dimensions (named by their registry ids), value (empty when withheld),
// status, coverage, the query period and the run id.
func renderCSV(run *hubv1.Run) ([]byte, error) {
	q := run.GetQuery()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := append([]string{}, q.GetGroupBy()...)
	header = append(header, "value", "status", "contributors", "suppressed_by", "missing", "period_from", "period_to", "run_id")
	if err := w.Write(header); err != nil {
		return nil, fmt.Errorf("write csv: %w", err)
	}
	for _, c := range run.GetCells() {
		row := make([]string, 0, len(header))
		for i := range q.GetGroupBy() {
			row = append(row, part(c.GetKey(), i))
		}
		value := ""
		if !withheld(c.GetStatus()) {
			value = strconv.FormatInt(c.GetValue(), 10)
		}
		row = append(row, value, statusName(c.GetStatus()), list(c.GetContributors()), list(c.GetSuppressedBy()),
			list(c.GetMissing()), q.GetPeriodFrom(), q.GetPeriodTo(), run.GetId())
		if err := w.Write(row); err != nil {
			return nil, fmt.Errorf("write csv: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("write csv: %w", err)
	}
	return buf.Bytes(), nil
}
