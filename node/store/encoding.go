package store

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// A stored incident is the deterministic encoding of a StoredIncident. Its
// field 1 (the incident) comes first, so the encoding is the incident's own
// deterministic encoding behind a tag and a length, followed by the
// bookkeeping. Working on those bytes directly lets a write encode each
// incident once and decide "unchanged" with one bytes.Equal instead of
// decoding and comparing messages.
//
// The stored value under rec/i/ is that encoding in one of two forms, told
// apart by its first byte:
//
//   - plain: the StoredIncident encoding itself, as every version before
//     compression wrote it (and as a value that does not shrink is still
//     written). A protobuf encoding never starts with a zero byte, which
//     would be a tag of field number 0;
//   - packed: valueFormatPacked, then the StoredIncident encoding
//     compressed as one zstd frame.
//
// Records are kept in Badger's value log (OpenDataDir sets
// kv.Options.ValueThreshold), which Badger does not compress, so the store
// compresses them: about 2.5 KB of a rich incident become about 670 bytes.
// Every read goes through codec.unpack, so data directories written
// before keep working without a migration; a store written by this
// version cannot be read by an older one.

// valueFormatPacked is the first byte of a packed value.
const valueFormatPacked byte = 0x00

// maxStoredValue bounds what unpacking one value may allocate: a stored
// incident is a few KB, and a corrupt frame must not claim gigabytes.
const maxStoredValue = 64 << 20

// codec packs and unpacks stored values. One is shared by every goroutine
// of a Store: zstd's EncodeAll and DecodeAll are safe for concurrent use
// and keep a pool of GOMAXPROCS encoders and decoders, so a bulk load's
// staging goroutines neither wait on each other nor allocate a compressor
// per value.
type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newCodec() (*codec, error) {
	// The fastest level: the default one saves 2% of the bytes for 15-40%
	// more time. No checksum: Badger checks its own logs and tables, and
	// the protobuf decoding of the value checks the rest.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("value encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxStoredValue))
	if err != nil {
		return nil, fmt.Errorf("value decoder: %w", err)
	}
	return &codec{enc: enc, dec: dec}, nil
}

// pack returns the stored form of a StoredIncident encoding: packed, or
// plain when compressing does not make it smaller.
func (c *codec) pack(raw []byte) []byte {
	out := make([]byte, 1, 1+len(raw)/2)
	out[0] = valueFormatPacked
	out = c.enc.EncodeAll(raw, out)
	if len(out) >= len(raw) {
		return raw
	}
	return out
}

// unpack returns the StoredIncident encoding of a stored value: v itself
// when it is plain, else decompressed into a new slice.
func (c *codec) unpack(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != valueFormatPacked {
		return v, nil
	}
	if len(v) == 1 {
		// zstd reads no frame at all as empty; pack never writes that.
		return nil, fmt.Errorf("%w: empty packed value", errCorrupt)
	}
	raw, err := c.dec.DecodeAll(v[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return raw, nil
}

// unmarshal decodes a stored value of either form.
func (c *codec) unmarshal(v []byte, si *nodev1.StoredIncident) error {
	raw, err := c.unpack(v)
	if err == nil {
		err = proto.Unmarshal(raw, si)
	}
	if err != nil {
		return fmt.Errorf("decode stored incident: %w", err)
	}
	return nil
}

// revision is the bookkeeping part of a stored value.
type revision struct {
	version   int64
	createdAt *timestamppb.Timestamp
}

var errCorrupt = errors.New("corrupt stored incident")

// splitStored returns the incident bytes (aliasing v) and the revision of
// a StoredIncident encoding (unpacked), without decoding the incident.
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
	encoded []byte             // the new stored value (packed), unless unchanged
}

// plan decides what writing inc over prev (a stored value, when exists)
// does, and encodes the new stored value.
//
// The StoredIncident is marshalled in one go and the incident bytes are
// compared inside it: marshalling the incident alone and then copying it
// behind a tag would cost a second buffer and copy per incident, which a
// bulk load of large incidents notices. The comparison is on the
// uncompressed bytes, so an unchanged incident is recognised whatever
// form it is stored in; it is compressed only when it is written.
func (c *codec) plan(inc *recordv1.Incident, prev []byte, exists bool, now *timestamppb.Timestamp) (write, error) {
	if !exists {
		enc, err := marshalStored(inc, 1, now, now)
		if err != nil {
			return write{}, err
		}
		return write{action: actCreate, encoded: c.pack(enc)}, nil
	}
	prevRaw, err := c.unpack(prev)
	if err != nil {
		return write{}, err
	}
	oldBytes, rev, err := splitStored(prevRaw)
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
	return write{action: actUpdate, old: old, encoded: c.pack(enc)}, nil
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

// StoredValue returns the value the store keeps for inc created at now,
// packed as BulkLoad writes it: what a raw write of the same records must
// write to be compared with the store (cmd bench's import scenario). It
// does not touch the database.
func (s *Store) StoredValue(inc *recordv1.Incident, now time.Time) ([]byte, error) {
	ts := timestamppb.New(now)
	enc, err := marshalStored(inc, 1, ts, ts)
	if err != nil {
		return nil, err
	}
	return s.codec.pack(enc), nil
}
