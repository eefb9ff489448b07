package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes one YAML document into v, refusing unknown fields.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestK8sCronJob(t *testing.T) {
	b, err := os.ReadFile("k8s-cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	var pvc corev1.PersistentVolumeClaim
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		switch meta.Kind {
		case "CronJob":
			err = decodeStrict([]byte(doc), &cj)
		case "PersistentVolumeClaim":
			err = decodeStrict([]byte(doc), &pvc)
		default:
			t.Fatalf("document %d: unexpected kind %q", i, meta.Kind)
		}
		if err != nil {
			t.Fatalf("document %d (%s): %v", i, meta.Kind, err)
		}
	}
	if cj.APIVersion != "batch/v1" || pvc.APIVersion != "v1" {
		t.Errorf("apiVersion: CronJob %q, PVC %q", cj.APIVersion, pvc.APIVersion)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	crontab, err := os.ReadFile("crontab")
	if err != nil {
		t.Fatal(err)
	}
	if want := cronEntries(t, string(crontab))[0].schedule; cj.Spec.Schedule != want {
		t.Errorf("schedule %q, want the crontab's %q", cj.Spec.Schedule, want)
	}

	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", pod.RestartPolicy)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("the pod may run as root")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if pfp := cj.Spec.JobTemplate.Spec.PodFailurePolicy; pfp == nil || pfp.Rules[0].OnExitCodes == nil ||
		pfp.Rules[0].OnExitCodes.ContainerName == nil || *pfp.Rules[0].OnExitCodes.ContainerName != c.Name {
		t.Errorf("podFailurePolicy does not name the container %q", c.Name)
	}

	// Volumes: the PVC of this file, and the credentials Secret.
	mounts := map[string]string{} // volume name -> mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var stateDir, secretDir string
	for _, v := range pod.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			if v.PersistentVolumeClaim.ClaimName != pvc.Name {
				t.Errorf("volume %s claims %q, want the PVC %q", v.Name, v.PersistentVolumeClaim.ClaimName, pvc.Name)
			}
			stateDir = mounts[v.Name]
		case v.Secret != nil:
			secretDir = mounts[v.Name]
			if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
				t.Errorf("secret defaultMode %v: want no access for others", m)
			}
		}
	}
	if stateDir == "" || secretDir == "" {
		t.Fatalf("mounted: state %q, credentials %q; want both", stateDir, secretDir)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["XDG_STATE_HOME"] != stateDir {
		t.Errorf("XDG_STATE_HOME=%q, want the volume %q (the ledger must persist)", env["XDG_STATE_HOME"], stateDir)
	}
	if env["INVITEBATCH_CUSTOMER"] == "" {
		t.Errorf("no INVITEBATCH_CUSTOMER")
	}
	words := append([]string{"invitebatch"}, c.Args...)
	checkRunFlags(t, "k8s-cronjob.yaml", words)
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--credentials="); ok && filepath.Dir(v) != secretDir {
			t.Errorf("--credentials %s is not in the Secret's mount %s", v, secretDir)
		}
	}
	if in := c.Args[len(c.Args)-1]; filepath.Dir(in) != stateDir {
		t.Errorf("input %s is not on the volume %s: its checkpoint and report would be lost", in, stateDir)
	}
}
