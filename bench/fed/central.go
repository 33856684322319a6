package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	// The real C SQLite through cgo: the central database the federation is
	// compared with.
	_ "github.com/mattn/go-sqlite3"
)

// central is one SQLite database holding every state's incidents in one
// place: the design the federation replaces. Its schema is its best case
// for the benchmark's question: migrants fully denormalised (one row per
// migrant with the incident's year) and a covering index in GROUP BY order,
// so SQLite answers from the index alone without sorting.
type central struct {
	db   *sql.DB
	rows int64
}

func openCentral(path string) (*central, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=OFF&_synchronous=OFF")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE migrants (country TEXT NOT NULL, year INTEGER NOT NULL, citizenship TEXT NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create table: %w", err)
	}
	return &central{db: db}, nil
}

// load adds one country's synthetic file. The index is dropped and rebuilt
// around the load, which is faster than maintaining it row by row.
func (c *central) load(ctx context.Context, country, jsonl string) error {
	f, err := os.Open(jsonl)
	if err != nil {
		return fmt.Errorf("open %s: %w", filepath.Base(jsonl), err)
	}
	defer f.Close()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO migrants (country, year, citizenship) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var rec struct {
		DetectedOn string `json:"detectedOn"`
		Migrants   []struct {
			Citizenship string `json:"citizenship"`
		} `json:"migrants"`
	}
	for sc.Scan() {
		rec.DetectedOn, rec.Migrants = "", rec.Migrants[:0]
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("decode %s: %w", filepath.Base(jsonl), err)
		}
		if len(rec.DetectedOn) < 4 {
			continue
		}
		year, err := strconv.Atoi(rec.DetectedOn[:4])
		if err != nil {
			continue
		}
		for _, m := range rec.Migrants {
			if _, err := ins.ExecContext(ctx, country, year, m.Citizenship); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			c.rows++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(jsonl), err)
	}
	return tx.Commit()
}

// index (re)builds the covering index and the planner's statistics.
func (c *central) index(ctx context.Context) error {
	for _, q := range []string{
		`DROP INDEX IF EXISTS migrants_year_cit`,
		`CREATE INDEX migrants_year_cit ON migrants (year, citizenship)`,
		`ANALYZE`,
	} {
		if _, err := c.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// migrantsByCitizenship answers the benchmark's question and returns the
// number of cells and their total.
func (c *central) migrantsByCitizenship(ctx context.Context, year int) (cells int, total int64, err error) {
	rows, err := c.db.QueryContext(ctx, `SELECT citizenship, COUNT(*) FROM migrants WHERE year = ? GROUP BY citizenship`, year)
	if err != nil {
		return 0, 0, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cit string
		var n int64
		if err := rows.Scan(&cit, &n); err != nil {
			return 0, 0, fmt.Errorf("scan: %w", err)
		}
		cells++
		total += n
	}
	return cells, total, rows.Err()
}

// timeQuery runs the question reps times and returns the latencies.
func (c *central) timeQuery(ctx context.Context, year, reps int) ([]time.Duration, int, int64, error) {
	var ds []time.Duration
	var cells int
	var total int64
	for range reps {
		start := time.Now()
		n, t, err := c.migrantsByCitizenship(ctx, year)
		if err != nil {
			return nil, 0, 0, err
		}
		ds = append(ds, time.Since(start))
		cells, total = n, t
	}
	return ds, cells, total, nil
}

func (c *central) close() error { return c.db.Close() }
