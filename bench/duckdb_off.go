//go:build !duckdb

package main

import (
	"context"
	"errors"
	"time"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// errDuckDBOff is what every DuckDB call answers in the default build,
// which neither downloads nor links DuckDB.
var errDuckDBOff = errors.New("DuckDB not built in: rerun with -tags duckdb")

// duckDB stands in for the DuckDB peer, which needs -tags duckdb.
type duckDB struct{}

// openDuckDB returns no database: loadPeers then skips DuckDB.
func openDuckDB(context.Context) (*duckDB, error) { return nil, nil }

func (*duckDB) add(*recordv1.Incident) error                   { return errDuckDBOff }
func (*duckDB) finish(context.Context) error                   { return errDuckDBOff }
func (*duckDB) query(string, ...any) (map[string]int64, error) { return nil, errDuckDBOff }
func (*duckDB) loaded(time.Duration) duckdbLoad                { return duckdbLoad{} }
func (*duckDB) Close() error                                   { return nil }

// duckdbColumns leaves the table as it is and says how to add DuckDB.
func duckdbColumns(t *table, _ []aggResult, _ duckdbLoad) {
	t.note("%s (cd bench && go run -tags duckdb . -scenarios aggregate) to add DuckDB's columns; see docs/benchmarks.md.", errDuckDBOff)
}
