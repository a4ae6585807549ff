package model

import "testing"

func TestClosestName(t *testing.T) {
	tests := []struct {
		given      string
		candidates []string
		want       string
	}{
		{"wbe", []string{"db", "web"}, "web"},
		{"postgre", []string{"postgres", "https"}, "postgres"},
		{"db-1", []string{"db-01", "db-02"}, "db-01"},
		{"Web", []string{"web"}, "web"},
		{"enforcing", []string{"enforce", "audit"}, "enforce"},
		{"oci", []string{"aws", "azure", "gcp", "hosts"}, ""},
		{"x", []string{"y"}, ""},
		{"segment.internt", []string{"network.internet", "segment.web"}, ""},
		{"network.internt", []string{"network.internet", "segment.web"}, "network.internet"},
		{"ab", []string{"ba", "ab2"}, "ab2"},
		{"ap", []string{"app", "db"}, "app"},
	}
	for _, tt := range tests {
		got, ok := ClosestName(tt.given, tt.candidates)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("ClosestName(%q, %q) = %q, %v; want %q", tt.given, tt.candidates, got, ok, tt.want)
		}
	}
}
