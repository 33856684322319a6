// Package e2e holds end-to-end tests that start hubs and nodes together.
package e2e
