package emulator

import (
	"encoding/json"
	"io"
	"net/http"
)

// serveAdmin serves the /emulator/ endpoints.
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(code int, err error) {
		reply(code, map[string]string{"error": err.Error()})
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /emulator/stats":
		reply(http.StatusOK, e.Stats())
	case "GET /emulator/states":
		reply(http.StatusOK, e.StateCounts())
	case "GET /emulator/config":
		reply(http.StatusOK, e.Config())
	case "POST /emulator/config":
		c := e.Config()
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		if err := e.Apply(c); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		reply(http.StatusOK, e.Config())
	case "POST /emulator/seed":
		if err := e.LoadSeed(r.Body); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		reply(http.StatusOK, map[string]int{"held": e.Stats().Held})
	case "POST /emulator/reset":
		e.ResetCounters()
		reply(http.StatusOK, e.Stats())
	default:
		http.NotFound(w, r)
	}
}
