package logging

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/grpclog"
)

// GRPC adapts an hclog logger to grpclog.LoggerV2. grpc-go logs connection
// churn at info level; those lines go to debug so a healthy federation is
// quiet. Install it once per process with grpclog.SetLoggerV2.
type GRPC struct {
	L hclog.Logger
	// Verbosity is the grpc verbosity level V reports as enabled.
	Verbosity int
}

var _ grpclog.LoggerV2 = GRPC{}

// InstallGRPC routes grpc-go's global logger into l.
func InstallGRPC(l hclog.Logger) { grpclog.SetLoggerV2(GRPC{L: l.Named("grpc")}) }

func (g GRPC) msg(a []any) string   { return strings.TrimSpace(fmt.Sprint(a...)) }
func (g GRPC) msgln(a []any) string { return strings.TrimSpace(fmt.Sprintln(a...)) }
func (g GRPC) msgf(f string, a []any) string {
	return strings.TrimSpace(fmt.Sprintf(f, a...))
}

// Info logs at debug level.
func (g GRPC) Info(a ...any) { g.L.Debug(g.msg(a)) }

// Infoln logs at debug level.
func (g GRPC) Infoln(a ...any) { g.L.Debug(g.msgln(a)) }

// Infof logs at debug level.
func (g GRPC) Infof(f string, a ...any) { g.L.Debug(g.msgf(f, a)) }

// Warning logs at warn level.
func (g GRPC) Warning(a ...any) { g.L.Warn(g.msg(a)) }

// Warningln logs at warn level.
func (g GRPC) Warningln(a ...any) { g.L.Warn(g.msgln(a)) }

// Warningf logs at warn level.
func (g GRPC) Warningf(f string, a ...any) { g.L.Warn(g.msgf(f, a)) }

// Error logs at error level.
func (g GRPC) Error(a ...any) { g.L.Error(g.msg(a)) }

// Errorln logs at error level.
func (g GRPC) Errorln(a ...any) { g.L.Error(g.msgln(a)) }

// Errorf logs at error level.
func (g GRPC) Errorf(f string, a ...any) { g.L.Error(g.msgf(f, a)) }

// Fatal logs at error level; grpc-go exits the process after it.
func (g GRPC) Fatal(a ...any) { g.L.Error(g.msg(a)) }

// Fatalln logs at error level; grpc-go exits the process after it.
func (g GRPC) Fatalln(a ...any) { g.L.Error(g.msgln(a)) }

// Fatalf logs at error level; grpc-go exits the process after it.
func (g GRPC) Fatalf(f string, a ...any) { g.L.Error(g.msgf(f, a)) }

// V reports whether verbosity level l is enabled.
func (g GRPC) V(l int) bool { return l <= g.Verbosity }
