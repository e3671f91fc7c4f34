package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// maxAckQuery bounds the ackIds asked in one /services/collector/ack
// request.
const maxAckQuery = 10_000

// awaitAck records that t answered req on channel with ackID; the poller
// settles req when Splunk reports it indexed, or resends it after
// ack_timeout.
func (s *Sink) awaitAck(req *request, t *target, channel string, ackID uint64) {
	req.ackID, req.sentAt = ackID, time.Now()
	if req.firstSent.IsZero() {
		req.firstSent = req.sentAt
	}
	t.mu.Lock()
	ids := t.pending[channel]
	if ids == nil {
		ids = map[uint64]*request{}
		t.pending[channel] = ids
	}
	old := ids[ackID]
	ids[ackID] = req
	t.mu.Unlock()
	if old == nil {
		s.m.acksPending.Inc()
		return
	}
	// The node numbers ackIds from 0 again (it restarted and lost its
	// ack state): the older request's ack can no longer be asked for.
	s.log.Warn("HEC reused a pending ackId: sending the older request again (Splunk may index it twice)",
		"url", t.label, "ack_id", ackID, "events", len(old.items))
	s.m.resends.Inc()
	s.resend.push(old)
}

// pollAcks asks t, every ack_poll_interval, about the ackIds its
// channels are waiting for, settles the requests reported indexed and
// resends those waiting longer than ack_timeout. Each URL has a poller of
// its own, so one whose ack queries hang until request_timeout delays the
// acks of no other. Once Close gives up it fails whatever is pending.
func (s *Sink) pollAcks(t *target) {
	defer s.bg.Done()
	tick := time.NewTicker(s.cfg.AckPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		if s.ctx.Err() != nil {
			s.failPending(t, fmt.Errorf("splunk: sink closing before the ack came: %w", s.ctx.Err()))
			continue
		}
		for _, ch := range s.channels(t) {
			s.poll(t, ch)
		}
		s.expire(t)
	}
}

// channels lists t's channels with pending acks.
func (s *Sink) channels(t *target) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	chs := make([]string, 0, len(t.pending))
	for ch, ids := range t.pending {
		if len(ids) > 0 {
			chs = append(chs, ch)
		}
	}
	return chs
}

// poll asks t about channel's pending ackIds, maxAckQuery at a time, and
// settles those reported true. An answer that is not a proper ack reply
// settles nothing: the requests wait on, and are resent at ack_timeout.
func (s *Sink) poll(t *target, channel string) {
	// No send on this channel may be under way: see worker.attempt.
	l := t.sending[channel]
	l.Lock()
	defer l.Unlock()
	t.mu.Lock()
	ids := make([]uint64, 0, len(t.pending[channel]))
	for id := range t.pending[channel] {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, maxAckQuery) {
		acked, err := s.queryAcks(t, channel, chunk)
		if err != nil {
			s.m.ackPollErrors.Inc()
			s.log.Warn("HEC ack query failed; the requests keep waiting for their acks", "url", t.label, "acks", len(chunk), "err", err)
			return
		}
		now := time.Now()
		for _, id := range chunk {
			if !acked[id] {
				continue
			}
			t.mu.Lock()
			req := t.pending[channel][id]
			delete(t.pending[channel], id)
			t.mu.Unlock()
			if req == nil {
				continue
			}
			s.m.acksPending.Dec()
			s.m.ackWait.Observe(now.Sub(req.sentAt).Seconds())
			s.m.delivered.Add(float64(len(req.items)))
			s.done(req, nil)
		}
	}
}

// queryAcks asks t which of ids on channel are indexed. Only ids answered
// true count; the answer must be a 200 whose acks member is an object.
func (s *Sink) queryAcks(t *target, channel string, ids []uint64) (map[uint64]bool, error) {
	body := append([]byte(nil), `{"acks":[`...)
	for i, id := range ids {
		if i > 0 {
			body = append(body, ',')
		}
		body = strconv.AppendUint(body, id, 10)
	}
	body = append(body, "]}"...)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.ack+"?channel="+url.QueryEscape(channel), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	s.header(req, channel)
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(http.MaxBytesReader(nil, res.Body, maxReplyBytes+int64(len(ids))*32))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the ack answer: %w", res.Status, err)
	}
	var r struct {
		Acks json.RawMessage `json:"acks"`
		reply
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not an ack answer: %.256q", res.Status, b)
	}
	if res.StatusCode != http.StatusOK || r.Acks == nil {
		return nil, fmt.Errorf("%s: %s", res.Status, r.reply)
	}
	acked, err := parseAcks(r.Acks)
	if err != nil {
		return nil, fmt.Errorf("ack answer: %w", err)
	}
	return acked, nil
}

// parseAcks reads the acks object of an ack answer. Each member must be
// an ackId in plain decimal, named once, with true or false: an answer
// that spells one id two ways or names it twice says nothing reliable
// about it, and json.Unmarshal would keep whichever came last.
func parseAcks(raw json.RawMessage) (map[uint64]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("acks is not an object: %.64s", raw)
	}
	acked := map[uint64]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := tok.(string) // object keys are strings
		id, err := strconv.ParseUint(k, 10, 64)
		if err != nil || strconv.FormatUint(id, 10) != k {
			return nil, fmt.Errorf("ackId %q is not a decimal number", k)
		}
		if _, dup := acked[id]; dup {
			return nil, fmt.Errorf("ackId %d answered twice", id)
		}
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		v, ok := tok.(bool)
		if !ok {
			return nil, fmt.Errorf("ackId %d: %v is not true or false", id, tok)
		}
		acked[id] = v
	}
	return acked, nil
}

// expire hands the requests of t waiting longer than ack_timeout to the
// workers to be sent again, or, once retry_for has passed since HEC first
// accepted one, fails its batches: an ack that never comes (a load
// balancer without sticky sessions, a broken ack service) must not hold
// the request's slot and have it indexed again forever.
func (s *Sink) expire(t *target) {
	now := time.Now()
	var late, spent []*request
	t.mu.Lock()
	for _, ids := range t.pending {
		for id, req := range ids {
			if now.Sub(req.sentAt) < s.cfg.AckTimeout {
				continue
			}
			delete(ids, id)
			if s.cfg.RetryFor > 0 && now.Sub(req.firstSent) >= s.cfg.RetryFor {
				spent = append(spent, req)
			} else {
				late = append(late, req)
			}
		}
	}
	t.mu.Unlock()
	for _, req := range late {
		s.m.acksPending.Dec()
		s.m.resends.Inc()
		s.log.Warn("no ack within ack_timeout: sending the request again (Splunk may index it twice)",
			"url", t.label, "events", len(req.items), "ack_id", req.ackID, "waited", now.Sub(req.sentAt).Round(time.Millisecond))
		s.resend.push(req)
	}
	for _, req := range spent {
		s.m.acksPending.Dec()
		s.m.failed.Add(float64(len(req.items)))
		s.log.Error("no ack within retry_for: giving up on the request; its batches fail for the source to redeliver",
			"url", t.label, "events", len(req.items), "ack_id", req.ackID, "since", now.Sub(req.firstSent).Round(time.Millisecond))
		s.done(req, fmt.Errorf("splunk: %d events not acknowledged by HEC within retry_for (%s)", len(req.items), s.cfg.RetryFor))
	}
}

// failPending fails every request of t awaiting its ack with err.
func (s *Sink) failPending(t *target, err error) {
	t.mu.Lock()
	var all []*request
	for ch, ids := range t.pending {
		for _, req := range ids {
			all = append(all, req)
		}
		delete(t.pending, ch)
	}
	t.mu.Unlock()
	for _, req := range all {
		s.m.acksPending.Dec()
		s.m.failed.Add(float64(len(req.items)))
		s.done(req, err)
	}
}
