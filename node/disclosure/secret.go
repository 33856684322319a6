package disclosure

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/vrs-federation/vrs/internal/kv"
)

// SecretKey is where the node keeps its rounding secret.
const SecretKey = "sec/rounding"

// SecretSize is the size of a new secret in bytes.
const SecretSize = 32

// LoadOrCreateSecret returns the node's rounding secret, creating 32 random
// bytes at first start. The secret never leaves the node: whoever holds it
// could undo the rounding. It is kept across restarts so that a cell asked
// again after a restart still gets the same rounded value.
func LoadOrCreateSecret(db *kv.DB) ([]byte, error) {
	var secret []byte
	err := db.Update(func(tx kv.Txn) error {
		v, err := tx.Get([]byte(SecretKey))
		if err == nil {
			if len(v) < 16 {
				return fmt.Errorf("stored secret is %d bytes, want at least 16", len(v))
			}
			secret = v
			return nil
		}
		if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		secret = make([]byte, SecretSize)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		return tx.Put([]byte(SecretKey), secret)
	})
	if err != nil {
		return nil, fmt.Errorf("rounding secret: %w", err)
	}
	return secret, nil
}
