package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	// The real C SQLite through cgo: the peer the engine is compared with.
	_ "github.com/mattn/go-sqlite3"

	"github.com/vrs-federation/vrs/internal/registry"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// The SQLite schema is designed for SQLite's best case on these questions:
// every value a question reads is a column of the table it scans
// (migrants are fully denormalised: one row per migrant with the
// incident's year, route and the person's citizenship and sex), the values
// are stored already spelt as cell keys so no function runs per row, and
// each question has a covering index whose order is the GROUP BY order, so
// SQLite answers from the index alone and groups while streaming, with no
// temporary B-tree and no sort.
const sqliteSchema = `
CREATE TABLE incidents (
	id          INTEGER PRIMARY KEY,
	detected_on TEXT    NOT NULL,
	year        INTEGER NOT NULL,
	month       TEXT    NOT NULL,
	mode        TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	destination TEXT    NOT NULL
);
CREATE TABLE migrants (
	incident_id INTEGER NOT NULL,
	year        INTEGER NOT NULL,
	citizenship TEXT    NOT NULL,
	sex         TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	destination TEXT    NOT NULL
);`

// Indexes are built after the load, which is faster than maintaining them
// row by row.
const sqliteIndexes = `
CREATE INDEX incidents_detected_on ON incidents (detected_on);
CREATE INDEX incidents_month_mode  ON incidents (month, mode);
CREATE INDEX migrants_year_cit     ON migrants (year, citizenship);
CREATE INDEX migrants_od_sex       ON migrants (origin, destination, sex);
ANALYZE;`

// sqlitePragmas trade every safety SQLite has for speed: this database is
// a throw-away copy.
var sqlitePragmas = []string{
	"PRAGMA journal_mode = OFF",
	"PRAGMA synchronous = OFF",
	"PRAGMA locking_mode = EXCLUSIVE",
	"PRAGMA temp_store = MEMORY",
	"PRAGMA cache_size = -2000000", // 2 GB of page cache
	"PRAGMA mmap_size = 8589934592",
	"PRAGMA threads = 2",
}

// sqliteDB is the loaded peer.
type sqliteDB struct {
	db   *sql.DB
	path string // "" when in memory
	rows struct{ incidents, migrants int }
}

// openSQLite creates an empty database in memory, or in a file under dir
// when dir is not empty.
func openSQLite(dir string) (*sqliteDB, error) {
	s := &sqliteDB{}
	dsn := "file::memory:"
	if dir != "" {
		s.path = filepath.Join(dir, "bench.sqlite")
		dsn = "file:" + s.path
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// One connection: an in-memory database lives in its connection, and
	// SQLite runs one query on one thread anyway.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	pragmas := sqlitePragmas
	if dir != "" {
		// A file is asked for to keep SQLite out of memory; with a memory
		// temp store the CREATE INDEX sorts still are (about 7 GB more at
		// 5M incidents). The timed queries read covering indexes and use
		// no temp storage, so this changes only the load.
		pragmas = append(slices.Clone(sqlitePragmas), "PRAGMA temp_store = FILE")
	}
	for _, p := range pragmas {
		if _, err := db.Exec(p); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("sqlite %s: %w", p, err)
		}
	}
	if _, err := db.Exec(sqliteSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite schema: %w", err)
	}
	s.db = db
	return s, nil
}

// Close closes the database and removes its file.
func (s *sqliteDB) Close() error {
	err := s.db.Close()
	if s.path != "" {
		_ = os.Remove(s.path)
	}
	return err
}

// rowsPerInsert is how many rows one INSERT statement carries: multi-row
// inserts spare SQLite and database/sql most of their per-statement work.
const rowsPerInsert = 256

// loader inserts rows through prepared multi-row statements inside one
// transaction.
type loader struct {
	tx        *sql.Tx
	incStmt   *sql.Stmt
	migStmt   *sql.Stmt
	inc, mig  []any
	nextID    int64
	incidents int
	migrants  int
}

func insertSQL(table string, cols, rows int) string {
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(ph+",", rows), ",")
}

const (
	incCols = 7
	migCols = 6
)

func (s *sqliteDB) begin(ctx context.Context) (*loader, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite begin: %w", err)
	}
	l := &loader{tx: tx}
	if l.incStmt, err = tx.Prepare(insertSQL("incidents", incCols, rowsPerInsert)); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("sqlite prepare: %w", err)
	}
	if l.migStmt, err = tx.Prepare(insertSQL("migrants", migCols, rowsPerInsert)); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("sqlite prepare: %w", err)
	}
	return l, nil
}

// keyOr spells an empty code as the dimension's missing value, as the
// engine does.
func keyOr(v, missing string) string {
	if v == "" {
		return missing
	}
	return v
}

// spelt is one incident as the peers' tables hold it, every value spelt
// as the engine spells its cell keys. SQLite and DuckDB load the same
// spelling, so their answers can be compared cell by cell.
type spelt struct {
	date, month, mode, origin, dest string
	year                            int
	migrants                        []speltPerson
}

type speltPerson struct{ citizenship, sex string }

// spell spells one incident for the peers.
func spell(inc *recordv1.Incident) (spelt, error) {
	t, ok := registry.ParseDate(inc.GetDetectedOn())
	if !ok {
		return spelt{}, fmt.Errorf("bad detected_on %q", inc.GetDetectedOn())
	}
	s := spelt{
		date:   inc.GetDetectedOn(),
		year:   t.Year(),
		month:  registry.PeriodKey(registry.GranularityMonth, t.Year(), int(t.Month())),
		mode:   registry.EnumKey(inc.GetTransportMode()),
		origin: keyOr(inc.GetRoute().GetOrigin(), registry.Unknown),
		dest:   keyOr(inc.GetRoute().GetDestination(), registry.Unknown),
	}
	for _, p := range inc.GetMigrants() {
		s.migrants = append(s.migrants, speltPerson{keyOr(p.GetCitizenship(), registry.Unknown), registry.SexKey(p.GetSex())})
	}
	return s, nil
}

// add inserts one incident and its migrants.
func (l *loader) add(inc *recordv1.Incident) error {
	s, err := spell(inc)
	if err != nil {
		return fmt.Errorf("incident %d: %w", l.nextID+1, err)
	}
	l.nextID++
	year := int64(s.year)
	l.inc = append(l.inc, l.nextID, s.date, year, s.month, s.mode, s.origin, s.dest)
	l.incidents++
	if err := l.flushFull(); err != nil {
		return err
	}
	for _, p := range s.migrants {
		l.mig = append(l.mig, l.nextID, year, p.citizenship, p.sex, s.origin, s.dest)
		l.migrants++
		if err := l.flushFull(); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) flushFull() error {
	if len(l.inc) == incCols*rowsPerInsert {
		if _, err := l.incStmt.Exec(l.inc...); err != nil {
			return fmt.Errorf("sqlite insert: %w", err)
		}
		l.inc = l.inc[:0]
	}
	if len(l.mig) == migCols*rowsPerInsert {
		if _, err := l.migStmt.Exec(l.mig...); err != nil {
			return fmt.Errorf("sqlite insert: %w", err)
		}
		l.mig = l.mig[:0]
	}
	return nil
}

// commit inserts what is left (in a statement of its own size), commits
// and builds the indexes.
func (l *loader) commit(s *sqliteDB) error {
	for _, rest := range []struct {
		table string
		cols  int
		vals  []any
	}{{"incidents", incCols, l.inc}, {"migrants", migCols, l.mig}} {
		if len(rest.vals) == 0 {
			continue
		}
		if _, err := l.tx.Exec(insertSQL(rest.table, rest.cols, len(rest.vals)/rest.cols), rest.vals...); err != nil {
			_ = l.tx.Rollback()
			return fmt.Errorf("sqlite insert: %w", err)
		}
	}
	_ = l.incStmt.Close()
	_ = l.migStmt.Close()
	if err := l.tx.Commit(); err != nil {
		return fmt.Errorf("sqlite commit: %w", err)
	}
	if _, err := s.db.Exec(sqliteIndexes); err != nil {
		return fmt.Errorf("sqlite indexes: %w", err)
	}
	s.rows.incidents += l.incidents
	s.rows.migrants += l.migrants
	return nil
}

// query runs a GROUP BY whose last column is the count (queryCells).
func (s *sqliteDB) query(q string, args ...any) (map[string]int64, error) {
	return queryCells(s.db, "sqlite", q, args...)
}

// queryCells runs a GROUP BY on db (SQLite or DuckDB, through
// database/sql) whose last column is the count and returns the cells keyed
// like the engine's.
func queryCells(db *sql.DB, peer, q string, args ...any) (map[string]int64, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s query: %w", peer, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(cols)-1)
	dest := make([]any, len(cols))
	for i := range keys {
		dest[i] = &keys[i]
	}
	var n int64
	dest[len(cols)-1] = &n
	out := map[string]int64{}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("%s scan: %w", peer, err)
		}
		out[cellKey(keys)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s query: %w", peer, err)
	}
	return out, nil
}

// plan returns SQLite's query plan, to show the indexes are used.
func (s *sqliteDB) plan(q string, args ...any) (string, error) {
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		return "", fmt.Errorf("sqlite plan: %w", err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		parts = append(parts, detail)
	}
	return strings.Join(parts, "; "), rows.Err()
}

// cellKey joins a cell's key values; \x1f never occurs in a key.
func cellKey(k []string) string { return strings.Join(k, "\x1f") }
