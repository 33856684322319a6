package api

import (
	"errors"
	"fmt"
	"sync/atomic"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// encoded is a response message shared by every caller together with its
// protobuf encoding, made once.
type encoded struct {
	msg  proto.Message
	wire []byte
}

// wireCache remembers the encoding of one shared, never modified response,
// so that the most-read answer of the API (the regional picture, tens of
// kilobytes with its coverage lists) is encoded once per change instead of
// once per call.
type wireCache struct {
	cur atomic.Pointer[encoded]
}

// share encodes msg and makes it the cached response; msg must not be
// modified afterwards.
func (c *wireCache) share(msg proto.Message) error {
	wire, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode shared response: %w", err)
	}
	c.cur.Store(&encoded{msg: msg, wire: wire})
	return nil
}

// lookup returns the cached encoding of exactly this message (the same
// pointer), or nil.
func (c *wireCache) lookup(msg any) []byte {
	if e := c.cur.Load(); e != nil && msg == any(e.msg) {
		return e.wire
	}
	return nil
}

// wireCodec is connect's binary protobuf codec ("proto"), except that a
// message held in its wireCache is written from the cached bytes.
type wireCodec struct {
	cache *wireCache
}

var errNotProto = errors.New("not a protobuf message")

func (wireCodec) Name() string { return "proto" }

func (c wireCodec) Marshal(msg any) ([]byte, error) {
	return c.MarshalAppend(nil, msg)
}

// MarshalAppend appends to dst, which connect takes from its buffer pool:
// the cached bytes are copied, never handed over.
func (c wireCodec) MarshalAppend(dst []byte, msg any) ([]byte, error) {
	if wire := c.cache.lookup(msg); wire != nil {
		return append(dst, wire...), nil
	}
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T: %w", msg, errNotProto)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

func (wireCodec) Unmarshal(data []byte, msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return fmt.Errorf("%T: %w", msg, errNotProto)
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", msg, err)
	}
	return nil
}

// MarshalStable and IsBinary complete connect's stable codec interface
// (used for GET requests), as its own protobuf codec does.
func (wireCodec) MarshalStable(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T: %w", msg, errNotProto)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

func (wireCodec) IsBinary() bool { return true }

var _ connect.Codec = wireCodec{}
