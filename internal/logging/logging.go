// Package logging builds the one hclog root logger a process uses and routes
// the logging of the libraries we embed (grpc-go, Badger) into it, so that
// every line a VRS process writes has the same shape and the same level
// control. Callers derive subsystem loggers with Named.
//
// Nothing in this package filters content: callers must never pass a field
// the design marks "never shared" (names, document numbers, notes, ...).
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"
)

// Format chooses how lines are rendered.
type Format string

// Formats: Auto is human-readable on a terminal and JSON otherwise.
const (
	FormatAuto Format = "auto"
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// Options configures the root logger.
type Options struct {
	// Name is the process's name, e.g. "vrs-hub".
	Name string
	// Level is one of trace, debug, info, warn, error; default info.
	Level string
	// Format is auto, text or json; default auto.
	Format Format
	// Output defaults to os.Stderr.
	Output io.Writer
}

// New returns the root logger.
func New(o Options) (hclog.Logger, error) {
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	level := hclog.Info
	if o.Level != "" {
		level = hclog.LevelFromString(o.Level)
		if level == hclog.NoLevel {
			return nil, fmt.Errorf("log level %q: want trace, debug, info, warn or error", o.Level)
		}
	}
	var jsonFormat bool
	switch o.Format {
	case "", FormatAuto:
		jsonFormat = !isTerminal(out)
	case FormatText:
	case FormatJSON:
		jsonFormat = true
	default:
		return nil, fmt.Errorf("log format %q: want auto, text or json", o.Format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:            o.Name,
		Level:           level,
		Output:          out,
		JSONFormat:      jsonFormat,
		IncludeLocation: false,
		// Colour only makes sense for a person at a terminal.
		Color: hclog.ColorOff,
	}), nil
}

// Discard returns a logger that writes nothing, for tests that do not read
// logs.
func Discard() hclog.Logger { return hclog.NewNullLogger() }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Badger adapts an hclog logger to badger.Logger. Badger is chatty at info
// level (every compaction); its info lines go to debug.
type Badger struct{ L hclog.Logger }

// Errorf logs at error level.
func (b Badger) Errorf(f string, a ...any) { b.L.Error(trim(f, a)) }

// Warningf logs at warn level.
func (b Badger) Warningf(f string, a ...any) { b.L.Warn(trim(f, a)) }

// Infof logs at debug level. Badger calls Infof and Debugf on its write
// path, so a line the level drops is not even formatted.
func (b Badger) Infof(f string, a ...any) {
	if b.L.IsDebug() {
		b.L.Debug(trim(f, a))
	}
}

// Debugf logs at trace level.
func (b Badger) Debugf(f string, a ...any) {
	if b.L.IsTrace() {
		b.L.Trace(trim(f, a))
	}
}

func trim(f string, a []any) string { return strings.TrimSpace(fmt.Sprintf(f, a...)) }
