package batch

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second, MaxAttempts: 5}
	tests := []struct {
		name      string
		n         int
		serverMin time.Duration
		rnd       float64
		want      time.Duration
	}{
		{"first failure, no jitter", 1, 0, 0, 500 * time.Millisecond},
		{"first failure, full jitter", 1, 0, 0.999999, 999999500 * time.Nanosecond},
		{"third failure doubles twice", 3, 0, 0, 2 * time.Second},
		{"capped", 10, 0, 0, 5 * time.Second},
		{"huge n does not overflow", 5000, 0, 0.5, 7500 * time.Millisecond},
		{"zero n treated as first", 0, 0, 0, 500 * time.Millisecond},
		{"server minimum wins", 1, 30 * time.Second, 0, 30 * time.Second},
		{"server minimum plus jitter", 2, 3 * time.Second, 0.5, 3500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Delay(tt.n, tt.serverMin, tt.rnd); got != tt.want {
				t.Errorf("Delay(%d, %v, %v) = %v, want %v", tt.n, tt.serverMin, tt.rnd, got, tt.want)
			}
		})
	}
}

func TestBackoffRetry(t *testing.T) {
	b := Backoff{MaxAttempts: 3}
	for n, want := range []bool{true, true, true, false, false} {
		if got := b.Retry(n); got != want {
			t.Errorf("Retry(%d) = %v, want %v", n, got, want)
		}
	}
}
