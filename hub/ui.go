package hub

import (
	"context"
	"errors"
	"net/http"

	"github.com/vrs-federation/vrs/hub/export"
	"github.com/vrs-federation/vrs/hub/picture"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/ui"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// uiHandler serves the read-only web UI from the same parts as the API.
// The UI listens on loopback only and bypasses the API's mTLS, so it shows
// what an operator may see; remote access goes through an authenticating
// reverse proxy (docs/operator.md).
func (h *Hub) uiHandler() (http.Handler, error) {
	return ui.New(ui.Config{
		Nodes:    uiNodes{h},
		Picture:  picture.Source{Def: h.picture, Runs: h.runs},
		Runs:     h.runs,
		Export:   export.Exporter{Runs: h.runs, Options: export.Options{Columns: export.RegistryColumns{Nodes: h.registry}}},
		Log:      h.log.Named("ui"),
		NotFound: func(err error) bool { return errors.Is(err, runs.ErrNotFound) },
	})
}

type uiNodes struct{ h *Hub }

func (n uiNodes) ListNodes(context.Context) ([]*hubv1.Node, error) { return n.h.registry.List(), nil }
