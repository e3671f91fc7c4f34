// Package ecs encodes records as Elastic Common Schema JSON documents.
//
// API CONTRACT (implementation in progress; signatures are fixed):
package ecs

import "github.com/flowhose/flowhose/stream"

// Encoder appends ECS documents. Its zero value is usable.
type Encoder struct {
	// Dataset is event.dataset / data_stream.dataset (default "aws.vpcflow").
	Dataset string
	// Namespace is data_stream.namespace (default "default").
	Namespace string
	// Original adds event.original with the raw line.
	Original bool
}

// Append appends r as one JSON object (no trailing newline) to dst.
func (e *Encoder) Append(dst []byte, r *stream.Record) []byte { return dst }

// AppendID appends r's deterministic document id to dst: the same record
// always gets the same id, so redeliveries do not duplicate documents.
func AppendID(dst []byte, r *stream.Record) []byte { return dst }

// AppendCommunityID appends the Community ID v1 (seed 0) of r's flow, and
// reports false (appending nothing) when r lacks the addresses or protocol.
func AppendCommunityID(dst []byte, r *stream.Record) ([]byte, bool) { return dst, false }
