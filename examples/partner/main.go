// Command partner is the smallest useful partner system: it reads the node
// registry and the regional picture from a VRS Federation hub with the
// generated Go client, over mutual TLS with a partner certificate. It uses
// only the published proto packages and the standard library's TLS, as a
// partner's own program would.
//
//	go run ./examples/partner --api 127.0.0.1:8443 \
//	    --cert partner-unodc-research.pem --key partner-unodc-research-key.pem --ca ca.pem
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

func main() {
	api := flag.String("api", "127.0.0.1:8443", "hub API address")
	certFile := flag.String("cert", "", "partner certificate (PEM)")
	keyFile := flag.String("key", "", "partner private key (PEM)")
	caFile := flag.String("ca", "", "federation CA certificate (PEM)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("certificate: %v", err)
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatalf("ca: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		log.Fatalf("ca: no certificate in %s", *caFile)
	}
	// The hub's certificate names localhost and 127.0.0.1 (and any --dns or
	// --ip given at issue), so ordinary host-name verification works.
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: roots}
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, Protocols: &protocols}}
	base := "https://" + *api

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	nodes := hubv1connect.NewNodeServiceClient(httpClient, base, connect.WithGRPC())
	nres, err := nodes.ListNodes(ctx, connect.NewRequest(&hubv1.ListNodesRequest{}))
	if err != nil {
		log.Fatalf("list nodes: %v", err)
	}
	for _, n := range nres.Msg.GetNodes() {
		fmt.Printf("node %s connected=%v version=%s agreement=%.12s\n",
			n.GetCountry(), n.GetConnected(), n.GetSoftwareVersion(), n.GetAgreementHash())
	}

	reports := hubv1connect.NewReportServiceClient(httpClient, base, connect.WithGRPC())
	pres, err := reports.GetRegionalPicture(ctx, connect.NewRequest(&hubv1.GetRegionalPictureRequest{}))
	if err != nil {
		log.Fatalf("regional picture: %v", err)
	}
	for _, f := range pres.Msg.GetPicture().GetFigures() {
		fmt.Printf("figure %s: %d cells, contributors %v\n", f.GetId(), len(f.GetCells()), f.GetContributors())
	}
}
