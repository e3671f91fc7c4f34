package stream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAckCompletesAfterEveryParty(t *testing.T) {
	a := NewAck()
	a.Add(2)
	a.Done(nil)
	a.Done(nil)
	select {
	case <-a.Completed():
		t.Fatal("completed while the creator still holds its reference")
	default:
	}
	a.Done(nil)
	if err := a.Wait(context.Background()); err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
}

func TestAckWorstErrorWins(t *testing.T) {
	retry := errors.New("retryable")
	perm := Permanent(errors.New("mapping conflict"))
	for _, tc := range []struct {
		name string
		errs []error
		want error
	}{
		{"all nil", []error{nil, nil}, nil},
		{"first error kept", []error{retry, errors.New("later")}, retry},
		{"retryable beats permanent", []error{perm, retry}, retry},
		{"permanent does not replace retryable", []error{retry, perm}, retry},
		{"permanent beats success", []error{nil, perm, nil}, perm},
		{"first permanent kept", []error{perm, Permanent(errors.New("later"))}, perm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAck()
			a.Add(len(tc.errs))
			for _, err := range tc.errs {
				a.Done(err)
			}
			a.Done(nil)
			if got := a.Wait(context.Background()); !errors.Is(got, tc.want) && got != tc.want {
				t.Fatalf("Wait = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAckWaitHonoursContext(t *testing.T) {
	a := NewAck()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := a.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline exceeded", err)
	}
}

func TestAckMisusePanics(t *testing.T) {
	a := NewAck()
	a.Done(nil)
	for name, f := range map[string]func(){"Add": func() { a.Add(1) }, "Done": func() { a.Done(nil) }} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s after completion did not panic", name)
				}
			}()
			f()
		})
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad document")
	err := fmt.Errorf("item 3: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) {
		t.Fatalf("wrapped permanent error lost its identity: %v", err)
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Fatal("plain errors and nil must not be permanent")
	}
}
