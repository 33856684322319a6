package identity

import (
	"net/http"
	"time"
)

// HTTPClient returns an HTTP/2 client for the connect-go APIs (hub API,
// node API) that presents this source's certificate and accepts only
// servers whose verified SPIFFE ID satisfies expect (nil: any ID of the
// trust domain). Certificates reloaded by the source apply to new
// connections.
func (s *Source) HTTPClient(expect func(ID) bool) *http.Client {
	tlsConf := s.ClientTLSFor(expect)
	tlsConf.NextProtos = []string{"h2"}
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsConf,
		Protocols:           &protocols,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}
