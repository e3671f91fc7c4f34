package accesskey

import (
	"net/http/httptest"
	"testing"
)

func TestAllow(t *testing.T) {
	k := New([]string{"first", "second"})
	for _, tt := range []struct {
		key  string
		want bool
	}{{"first", true}, {"second", true}, {"", false}, {"firs", false}, {"first ", false}, {"third", false}} {
		r := httptest.NewRequest("POST", "/", nil)
		if tt.key != "" {
			r.Header.Set(Header, tt.key)
		}
		if got := k.Allow(r); got != tt.want {
			t.Errorf("Allow(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
	var none *Keys
	if none.Enabled() || !none.Allow(httptest.NewRequest("POST", "/", nil)) || New(nil).Enabled() {
		t.Error("without keys every request is allowed")
	}
}
