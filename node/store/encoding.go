package store

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// A stored value is the deterministic encoding of a StoredIncident. Its
// field 1 (the incident) comes first, so the value is the incident's own
// deterministic encoding behind a tag and a length, followed by the
// bookkeeping. Working on those bytes directly lets a write encode each
// incident once and decide "unchanged" with one bytes.Equal instead of
// decoding and comparing messages.

// revision is the bookkeeping part of a stored value.
type revision struct {
	version   int64
	createdAt *timestamppb.Timestamp
}

var errCorrupt = errors.New("corrupt stored incident")

// splitStored returns a stored value's incident bytes (aliasing v) and its
// revision, without decoding the incident.
func splitStored(v []byte) ([]byte, revision, error) {
	var inc []byte
	var rev revision
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return nil, rev, errCorrupt
		}
		v = v[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return nil, rev, errCorrupt
			}
			inc, v = b, v[n:]
		case num == 2 && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return nil, rev, errCorrupt
			}
			rev.version, v = int64(x), v[n:]
		case num == 3 && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return nil, rev, errCorrupt
			}
			rev.createdAt = &timestamppb.Timestamp{}
			if err := proto.Unmarshal(b, rev.createdAt); err != nil {
				return nil, rev, fmt.Errorf("%w: %w", errCorrupt, err)
			}
			v = v[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, v)
			if n < 0 {
				return nil, rev, errCorrupt
			}
			v = v[n:]
		}
	}
	return inc, rev, nil
}

// decodeIncident decodes incident bytes into a fresh message.
func decodeIncident(b []byte) (*recordv1.Incident, error) {
	inc := &recordv1.Incident{}
	if err := proto.Unmarshal(b, inc); err != nil {
		return nil, fmt.Errorf("decode stored incident: %w", err)
	}
	return inc, nil
}

// write is the outcome of comparing an incident with what is stored.
type write struct {
	action  action
	old     *recordv1.Incident // the stored incident before an update
	encoded []byte             // the new stored value, unless unchanged
}

// plan decides what writing inc over prev (when exists) does, and encodes
// the new stored value.
//
// The stored value is marshalled in one go and the incident bytes are
// compared inside it: marshalling the incident alone and then copying it
// behind a tag would cost a second buffer and copy per incident, which a
// bulk load of large incidents notices.
func plan(inc *recordv1.Incident, prev []byte, exists bool, now *timestamppb.Timestamp) (write, error) {
	if !exists {
		enc, err := marshalStored(inc, 1, now, now)
		return write{action: actCreate, encoded: enc}, err
	}
	oldBytes, rev, err := splitStored(prev)
	if err != nil {
		return write{}, err
	}
	enc, err := marshalStored(inc, rev.version+1, rev.createdAt, now)
	if err != nil {
		return write{}, err
	}
	newBytes, _, err := splitStored(enc)
	if err != nil {
		return write{}, err
	}
	if bytes.Equal(oldBytes, newBytes) {
		return write{action: actUnchanged}, nil
	}
	old, err := decodeIncident(oldBytes)
	if err != nil {
		return write{}, err
	}
	return write{action: actUpdate, old: old, encoded: enc}, nil
}

// marshalStored is the deterministic encoding of the StoredIncident. Field 1
// comes first, so the value is the incident's own deterministic encoding
// behind a tag and a length, then the bookkeeping: byte for byte what
// earlier versions wrote (TestMarshalStoredSplits).
func marshalStored(inc *recordv1.Incident, version int64, createdAt, updatedAt *timestamppb.Timestamp) ([]byte, error) {
	enc, err := marshalOpts.Marshal(&nodev1.StoredIncident{Incident: inc, Version: version, CreatedAt: createdAt, UpdatedAt: updatedAt})
	if err != nil {
		return nil, fmt.Errorf("encode incident: %w", err)
	}
	return enc, nil
}
