package providers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/microseg/microseg/model"
)

func TestRegistry(t *testing.T) {
	built := ""
	r := Registry{model.KindAWS: func(_ context.Context, t *model.Target, policy string) (Provider, error) {
		built = t.Name + " " + policy
		return nil, nil
	}}
	if !r.Supports(model.KindAWS) || r.Supports(model.KindGCP) || (Registry)(nil).Supports(model.KindAWS) {
		t.Error("Supports does not say which kinds have a builder")
	}
	if _, err := r.New(context.Background(), &model.Target{Kind: model.KindAWS, Name: "prod"}, "abc"); err != nil || built != "prod abc" {
		t.Errorf("New(aws) = %v, built %q", err, built)
	}
	_, err := r.New(context.Background(), &model.Target{Kind: model.KindGCP, Name: "prod"}, "abc")
	if !errors.Is(err, ErrNoProvider) || !strings.Contains(err.Error(), "target prod") || !strings.Contains(err.Error(), "gcp") {
		t.Errorf("New(gcp) = %v, want ErrNoProvider naming the target and kind", err)
	}
}
