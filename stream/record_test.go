package stream

import "testing"

func TestFieldTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for f := Field(1); f < numFields; f++ {
		info := f.Info()
		if info.Name == "" || info.Key == "" || info.Version < 2 || info.Version > 8 {
			t.Errorf("field %d has an incomplete description %+v", f, info)
		}
		for _, n := range []string{info.Name, info.Key} {
			if LookupField(n) != f {
				t.Errorf("LookupField(%q) = %v, want %v", n, LookupField(n), f)
			}
		}
		if seen[info.Name] {
			t.Errorf("duplicate field name %q", info.Name)
		}
		seen[info.Name] = true
	}
	if LookupField("encryption-status") != FieldUnknown || Field(200).Info() != (FieldInfo{}) {
		t.Error("unknown names must map to FieldUnknown")
	}
	if NumFields > 64 {
		t.Fatalf("FieldSet is a uint64 but there are %d fields", NumFields)
	}
}

func TestFieldSet(t *testing.T) {
	var s FieldSet
	s.Add(FieldRejectReason)
	s.Add(FieldVersion)
	if !s.Has(FieldRejectReason) || !s.Has(FieldVersion) || s.Has(FieldBytes) {
		t.Fatalf("FieldSet = %b", s)
	}
}
