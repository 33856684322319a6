package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/vrs-federation/vrs/node/engine"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// memResult is what the memory child reports.
type memResult struct {
	N          int     `json:"n"`
	Persons    int64   `json:"persons"`
	HeapInuse  uint64  `json:"heap_inuse"`
	HeapAlloc  uint64  `json:"heap_alloc"`
	SysBytes   uint64  `json:"sys"`
	RSSKB      int64   `json:"rss_kb"`
	HWMKB      int64   `json:"hwm_kb"`
	BuildSecs  float64 `json:"build_secs"`
	EngineLive int     `json:"engine_live"`
}

// memoryChildFlag makes the program the memory child: a fresh process
// holds nothing but the engine, so its RSS is the engine's footprint plus
// the Go runtime, not the benchmark's own copies of the records.
const memoryChildFlag = "memory-child"

// runMemory starts the child for n incidents and reads its report.
func runMemory(ctx context.Context, d dataset, n int) (memResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return memResult{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "-"+memoryChildFlag,
		"-n", strconv.Itoa(n), "-seed", strconv.FormatInt(d.seed, 10), "-country", d.country,
		"-from", d.from.Format(time.DateOnly), "-to", d.to.Format(time.DateOnly))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return memResult{}, fmt.Errorf("memory child: %w", err)
	}
	var r memResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return memResult{}, fmt.Errorf("memory child report: %w", err)
	}
	return r, nil
}

// memoryChild builds the engine from records generated in chunks (at most
// one chunk alive at a time), drops everything else, collects, and prints
// its measurements as JSON.
func memoryChild(d dataset, n int) error {
	e := engine.New()
	var persons int64
	var build time.Duration
	err := d.chunks(n, 50_000, func(incs []*recordv1.Incident) error {
		start := time.Now()
		for _, inc := range incs {
			if err := e.Add(inc); err != nil {
				return err
			}
			persons += int64(len(inc.GetMigrants()) + len(inc.GetSuspects()))
		}
		build += time.Since(start)
		return nil
	})
	if err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := memResult{
		N: n, Persons: persons, HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, SysBytes: ms.Sys,
		BuildSecs: build.Seconds(), EngineLive: e.Len(),
	}
	r.RSSKB, _ = procStatus("/proc/self/status", "VmRSS")
	r.HWMKB, _ = procStatus("/proc/self/status", "VmHWM")
	runtime.KeepAlive(e)
	return json.NewEncoder(os.Stdout).Encode(r)
}
