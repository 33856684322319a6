package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestHandlerOptions: requests over MaxMessageBytes are refused, small
// responses go out uncompressed even to a caller that accepts gzip, and
// large ones are compressed.
func TestHandlerOptions(t *testing.T) {
	const procedure = "/vrs.test.v1.Echo/Echo"
	echo := connect.NewUnaryHandler(procedure,
		func(_ context.Context, req *connect.Request[wrapperspb.BytesValue]) (*connect.Response[wrapperspb.BytesValue], error) {
			return connect.NewResponse(req.Msg), nil
		}, HandlerOptions()...)
	var encodings []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo.ServeHTTP(w, r)
		encodings = append(encodings, w.Header().Get("Content-Encoding"))
	}))
	t.Cleanup(srv.Close)
	// connect clients accept gzip by default.
	client := connect.NewClient[wrapperspb.BytesValue, wrapperspb.BytesValue](srv.Client(), srv.URL+procedure)

	call := func(n int) error {
		t.Helper()
		payload := bytes.Repeat([]byte("vrs "), n/4)
		resp, err := client.CallUnary(t.Context(), connect.NewRequest(wrapperspb.Bytes(payload)))
		if err == nil && !bytes.Equal(resp.Msg.GetValue(), payload) {
			t.Errorf("echo of %d bytes came back different", n)
		}
		return err
	}
	if err := call(1 << 10); err != nil {
		t.Fatal(err)
	}
	if err := call(CompressMinBytes * 2); err != nil {
		t.Fatal(err)
	}
	if len(encodings) != 2 || encodings[0] != "" || encodings[1] != "gzip" {
		t.Errorf("response encodings %q, want none for 1 KiB and gzip for %d bytes", encodings, CompressMinBytes*2)
	}
	if err := call(MaxMessageBytes + 1024); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("request over MaxMessageBytes: err = %v, want resource_exhausted", err)
	}
}
