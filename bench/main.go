// Command bench compares a VRS node with its peers on the same synthetic
// data and prints the results as tables (issue 11, parts 1, 2 and 6):
//
//  1. aggregates: the node's engine (node/engine) against SQLite's GROUP BY
//     on a denormalised, indexed schema built for SQLite's best case, after
//     checking that both give exactly the same cells;
//  2. import: the offline import path (store.BulkLoad in batches) against
//     a raw kv.Batch write of the same serialised records;
//  3. memory: the Go heap and the RSS of a process holding only the engine.
//
// It lives in a module of its own so that cgo SQLite stays out of the
// node's build. Numbers are printed, never asserted; each table states its
// targets and whether this run met them. Run it with `make bench` or
//
//	cd bench && go run . -n 1000000 -out results/latest.md
//
// See docs/benchmarks.md for the method.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// config is the command line.
type config struct {
	n           int
	seed        int64
	country     string
	from, to    string
	reps        int
	scale       string
	importBatch int
	scenarios   string
	out         string
	tmp         string
	sqliteFile  bool
	engineProf  string
	memoryChild bool
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.n, "n", 1_000_000, "incidents in the data set")
	fs.Int64Var(&c.seed, "seed", 1, "synthetic data seed")
	fs.StringVar(&c.country, "country", "IDN", "reporting state of the synthetic data (ISO 3166-1 alpha-3)")
	fs.StringVar(&c.from, "from", "2016-01-01", "first detection date of the synthetic data")
	fs.StringVar(&c.to, "to", "2025-12-31", "last detection date of the synthetic data; question (a) asks about its year")
	fs.IntVar(&c.reps, "reps", 7, "timed repetitions of each query (after one warm-up)")
	fs.StringVar(&c.scale, "scale", "", "comma-separated sizes for a scaling table of the aggregates, e.g. 100000,1000000,5000000 (off by default)")
	fs.IntVar(&c.importBatch, "import-batch", 100_000, "incidents per store.BulkLoad call")
	fs.StringVar(&c.scenarios, "scenarios", "aggregate,import,memory", "which scenarios to run")
	fs.StringVar(&c.out, "out", "", "also write the tables as Markdown to this file (e.g. results/latest.md)")
	fs.StringVar(&c.tmp, "tmp", "", "directory for the Badger directories and the SQLite file (default: the system temp dir)")
	fs.BoolVar(&c.sqliteFile, "sqlite-file", false, "keep SQLite in a temp file instead of in memory")
	fs.StringVar(&c.engineProf, "engine-profile", "", "write a CPU profile of extra engine aggregate runs to this file")
	fs.BoolVar(&c.memoryChild, memoryChildFlag, false, "internal: run as the memory scenario's child process")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.n <= 0 || c.reps <= 0 || c.importBatch <= 0 {
		return c, errors.New("-n, -reps and -import-batch must be positive")
	}
	return c, nil
}

func (c config) dataset() (dataset, error) {
	from, err := time.Parse(time.DateOnly, c.from)
	if err != nil {
		return dataset{}, fmt.Errorf("-from: %w", err)
	}
	to, err := time.Parse(time.DateOnly, c.to)
	if err != nil {
		return dataset{}, fmt.Errorf("-to: %w", err)
	}
	return dataset{country: c.country, seed: c.seed, from: from, to: to}, nil
}

func (c config) wants(s string) bool {
	for _, x := range strings.Split(c.scenarios, ",") {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Targets of issue 11.
const (
	targetSpeedup    = 10.0
	targetImportRate = 50_000.0
	targetImportFrac = 0.5
	targetRSSMB      = 300.0
	targetRSSAt      = 1_000_000
)

func run(args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	d, err := c.dataset()
	if err != nil {
		return err
	}
	if c.memoryChild {
		return memoryChild(d, c.n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp := c.tmp
	if tmp == "" {
		tmp = os.TempDir()
	}

	var tables []*table
	emit := func(t *table) {
		t.text(os.Stdout)
		tables = append(tables, t)
	}
	m := describeMachine()
	mt := &table{title: "Machine", header: []string{"", ""}}
	mt.add("CPU", m.cpu)
	mt.add("cores (GOMAXPROCS)", fmt.Sprintf("%d (%d)", m.cores, m.procs))
	mt.add("memory", fmt.Sprintf("%d MB", m.memMB))
	mt.add("Go", m.goVer)
	mt.add("date", m.date)
	mt.add("load average at start (1, 5, 15 min)", m.loadAvg)
	mt.add("data", fmt.Sprintf("internal/synth, country %s, seed %d, %s to %s", d.country, d.seed, c.from, c.to))
	emit(mt)

	start := time.Now()
	fmt.Printf("\ngenerating %s incidents...\n", thousands(int64(c.n)))
	data, err := d.makeCorpus(c.n)
	if err != nil {
		return err
	}
	fmt.Printf("generated %s incidents with %s migrants in %s (%s encoded)\n",
		thousands(int64(c.n)), thousands(data.migrants), secs(time.Since(start)), mb(data.bytes))

	var mainRes []aggResult
	if c.wants("aggregate") {
		sqliteDir := ""
		if c.sqliteFile {
			sqliteDir = tmp
		}
		res, build, err := aggregateAt(ctx, c, d, c.n, data, sqliteDir)
		if err != nil {
			return err
		}
		mainRes = res
		emit(aggregateTable(c.n, res, build, c, sqliteDir != ""))
	}
	if c.wants("import") {
		fmt.Printf("\nimporting %s incidents twice (store.BulkLoad, raw kv.Batch)...\n", thousands(int64(c.n)))
		r, err := runImport(ctx, tmp, data, c.importBatch)
		if err != nil {
			return err
		}
		emit(importTable(r))
	}
	// The records are not needed any more; free them before the children
	// and the scaling runs.
	data = nil
	runtime.GC()
	debug.FreeOSMemory()

	if c.wants("memory") {
		fmt.Printf("\nmeasuring the engine's memory in a fresh process...\n")
		r, err := runMemory(ctx, d, c.n)
		if err != nil {
			return err
		}
		emit(memoryTable(r))
	}
	if c.scale != "" {
		t, err := scalingTable(ctx, c, d, mainRes)
		if err != nil {
			return err
		}
		emit(t)
	}
	end := &table{title: "Run", header: []string{"", ""}}
	end.add("load average at end (1, 5, 15 min)", loadAverage())
	end.add("total wall time", secs(time.Since(start)))
	emit(end)

	if c.out != "" {
		if err := writeMarkdown(c.out, tables); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", c.out)
	}
	return nil
}

// buildTimes are how long each side took to take the data in.
type buildTimes struct {
	engine, sqlite time.Duration
	duck           duckdbLoad
	incidents      int
	migrants       int
}

// aggregateAt loads both peers with n incidents (from data when given,
// else generated chunk by chunk), verifies and times the questions.
func aggregateAt(ctx context.Context, c config, d dataset, n int, data *corpus, sqliteDir string) ([]aggResult, buildTimes, error) {
	fmt.Printf("\nloading %s incidents into the engine and SQLite...\n", thousands(int64(n)))
	feed := func(fn func([]*recordv1.Incident) error) error {
		if data != nil {
			return data.chunks(50_000, fn)
		}
		return d.chunks(n, 50_000, fn)
	}
	p, err := loadPeers(ctx, sqliteDir, feed)
	if err != nil {
		return nil, buildTimes{}, err
	}
	defer p.Close()
	bt := buildTimes{engine: p.engineBuild, sqlite: p.sqliteBuild, duck: p.duckLoad, incidents: p.sql.rows.incidents, migrants: p.sql.rows.migrants}
	fmt.Printf("engine built in %s, SQLite loaded and indexed in %s\n", secs(bt.engine), secs(bt.sqlite))
	res, err := runQuestions(p, questions(d.to.Year()), c.reps)
	if err != nil {
		return nil, bt, err
	}
	for _, r := range res {
		fmt.Printf("  %s: engine and SQLite agree on all %d cells (total %s)\n", r.q.name, r.agree.cells, thousands(r.agree.total))
	}
	if c.engineProf != "" && data != nil {
		if err := profileEngine(c.engineProf, p, res); err != nil {
			return nil, bt, err
		}
	}
	return res, bt, nil
}

// profileEngine runs every question on the engine again under the CPU
// profiler, for `go tool pprof`.
func profileEngine(path string, p *peers, res []aggResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for range 10 {
		for _, r := range res {
			if _, err := p.eng.Aggregate(r.q.query); err != nil {
				return err
			}
		}
	}
	return nil
}

// speedup is SQLite's median wall time over the engine's.
func speedup(r aggResult) float64 { return ratio(r.sql.wall.median(), r.eng.wall.median()) }

// cpuSpeedup is the same for CPU time.
func cpuSpeedup(r aggResult) float64 { return ratio(r.sql.cpu.median(), r.eng.cpu.median()) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func aggregateTable(n int, res []aggResult, bt buildTimes, c config, sqliteFile bool) *table {
	where := "in memory"
	if sqliteFile {
		where = "in a temp file"
	}
	t := &table{
		title: fmt.Sprintf("1. Aggregates over %s incidents: node engine vs SQLite", thousands(int64(n))),
		header: []string{"question", "cells", "engine median", "engine p90", "SQLite median", "SQLite p90", "speed-up",
			"engine CPU", "SQLite CPU", "speed-up (CPU)", "target ≥ 10× (wall; CPU)"},
	}
	for _, r := range res {
		s, cs := speedup(r), cpuSpeedup(r)
		t.add(r.q.name, strconv.Itoa(r.agree.cells), ms(r.eng.wall.median()), ms(r.eng.wall.p90()), ms(r.sql.wall.median()), ms(r.sql.wall.p90()),
			fmt.Sprintf("%.1f×", s), ms(r.eng.cpu.median()), ms(r.sql.cpu.median()), fmt.Sprintf("%.1f×", cs),
			met(s >= targetSpeedup)+"; "+met(cs >= targetSpeedup))
	}
	t.note("Both answer with exactly the same cells and counts (checked cell by cell before timing).")
	t.note("%d timed runs each after one warm-up; both sides timed up to a map of cell keys to counts.", c.reps)
	t.note("Wall: median and p90 of the wall clock. CPU: median CPU time of the process (all threads) per run; the engine may scan on up to GOMAXPROCS goroutines, SQLite uses one thread.")
	t.note("SQLite %s: %s incident rows, %s migrant rows (one row per migrant, fully denormalised), covering indexes in GROUP BY order.", where, thousands(int64(bt.incidents)), thousands(int64(bt.migrants)))
	for _, r := range res {
		t.note("SQLite plan %s: %s", r.q.name[:3], r.sqlitePlan)
	}
	t.note("Taking the data in (not a target): engine %s; SQLite load in one transaction plus index build %s.", secs(bt.engine), secs(bt.sqlite))
	duckdbColumns(t, res, bt.duck)
	return t
}

func importTable(r importResult) *table {
	t := &table{
		title:  fmt.Sprintf("2. Import of %s incidents (Badger on disk, opened as vrs-node import opens it, timed until Close)", thousands(int64(r.n))),
		header: []string{"path", "wall time", "incidents/s", "CPU time", "on disk", "vs raw", "target"},
	}
	sr, rr := rate(r.n, r.store), rate(r.n, r.raw)
	frac := 0.0
	if rr > 0 {
		frac = sr / rr
	}
	t.add(fmt.Sprintf("store.BulkLoad, batches of %s", thousands(int64(r.batch))), secs(r.store), thousands(int64(sr)), secs(r.storeCPU), mb(r.storeBytes),
		fmt.Sprintf("%.2f×", frac), fmt.Sprintf("≥ 50,000/s: %s; ≥ 0.5× raw: %s", met(sr >= targetImportRate), met(frac >= targetImportFrac)))
	t.add("raw kv.Batch of the serialised records", secs(r.raw), thousands(int64(rr)), secs(r.rawCPU), mb(r.rawBytes), "1.00×", "(the ceiling)")
	t.note("store.BulkLoad validates, classifies against the store, encodes, writes an undo log, the records and the date index, and commits the count.")
	t.note("The raw path writes rec/i/<ref> → the very values the store keeps (StoredIncident bytes, zstd-compressed) made beforehand with the clock stopped: no validation, no encoding, no compression, no undo log, no index.")
	return t
}

func memoryTable(r memResult) *table {
	t := &table{
		title:  fmt.Sprintf("3. Memory of the engine holding %s incidents", thousands(int64(r.N))),
		header: []string{"measure", "value", "target"},
	}
	rss := float64(r.RSSKB) / 1024
	target := "—"
	if r.N == targetRSSAt {
		target = fmt.Sprintf("RSS ≤ %.0f MB at 1M: %s", targetRSSMB, met(rss <= targetRSSMB))
	}
	t.add("incidents / persons held", thousands(int64(r.EngineLive))+" / "+thousands(r.Persons), "")
	t.add("Go heap in use after GC (HeapInuse)", mb(int64(r.HeapInuse)), "")
	t.add("Go heap live objects (HeapAlloc)", mb(int64(r.HeapAlloc)), "")
	t.add("process RSS (VmRSS)", fmt.Sprintf("%.0f MB", rss), target)
	t.add("process peak RSS while building (VmHWM)", mb(r.HWMKB*1024), "")
	t.add("engine build time (Add only)", fmt.Sprintf("%.1f s", r.BuildSecs), "")
	t.note("Measured in a fresh process that generated the records in chunks of 50,000 and kept only the engine; after runtime.GC and debug.FreeOSMemory.")
	t.note("A running node adds Badger's caches (about 112 MB by default, see internal/kv) and the servers.")
	return t
}

// scalingTable runs the aggregates at each requested size; the main size
// reuses the main run's numbers.
func scalingTable(ctx context.Context, c config, d dataset, main []aggResult) (*table, error) {
	t := &table{
		title:  "Scaling of the aggregates",
		header: []string{"incidents", "question", "engine median", "SQLite median", "speed-up", "speed-up (CPU)"},
	}
	for _, f := range strings.Split(c.scale, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-scale: %q is not a size", f)
		}
		res := main
		if n != c.n || res == nil {
			sqliteDir := ""
			if c.sqliteFile {
				sqliteDir = c.tmp
				if sqliteDir == "" {
					sqliteDir = os.TempDir()
				}
			}
			if res, _, err = aggregateAt(ctx, c, d, n, nil, sqliteDir); err != nil {
				return nil, err
			}
		}
		for _, r := range res {
			t.add(thousands(int64(n)), r.q.name, ms(r.eng.wall.median()), ms(r.sql.wall.median()),
				fmt.Sprintf("%.1f×", speedup(r)), fmt.Sprintf("%.1f×", cpuSpeedup(r)))
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
	return t, nil
}

// writeMarkdown writes every table to path.
func writeMarkdown(path string, tables []*table) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "# Benchmark results")
	fmt.Fprintln(f)
	fmt.Fprintln(f, "Written by `make bench` (`cd bench && go run . -out results/latest.md`); see [docs/benchmarks.md](../../docs/benchmarks.md) for the method.")
	fmt.Fprintln(f, "The machine is shared: read the load average before the wall times.")
	for _, t := range tables {
		t.markdown(f)
	}
	return f.Close()
}
