package file

import (
	"errors"
	"fmt"
	"sync"
)

// maxReportedErrors bounds how many errors an ErrorList keeps.
const maxReportedErrors = 10

// ErrorList counts errors and keeps the first few, so that a run over
// thousands of inputs reports what went wrong without an error of
// unbounded size. Safe for concurrent use; the zero value is empty.
type ErrorList struct {
	mu   sync.Mutex
	n    int
	errs []error
}

// Add counts err and keeps it if fewer than 10 are kept.
func (l *ErrorList) Add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if len(l.errs) < maxReportedErrors {
		l.errs = append(l.errs, err)
	}
}

// Len is the number of errors added.
func (l *ErrorList) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Err joins first (when not nil: why a run stopped), the kept errors and a
// count of the others.
func (l *ErrorList) Err(first error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	errs := append([]error{first}, l.errs...)
	if l.n > len(l.errs) {
		errs = append(errs, fmt.Errorf("and %d more errors", l.n-len(l.errs)))
	}
	return errors.Join(errs...)
}
