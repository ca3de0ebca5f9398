package apierror_test

import (
	"encoding/json"
	"testing"

	"github.com/eventtarget/eventtarget/platform/apierror"
)

func TestBody(t *testing.T) {
	var got map[string]json.RawMessage
	if err := json.Unmarshal(apierror.New(400, "blank", "name", "name may not be blank").Body(), &got); err != nil {
		t.Fatal(err)
	}
	if string(got["error"]) != `{"code":"blank","field":"name","message":"name may not be blank"}` || string(got["name"]) != `["name may not be blank"]` {
		t.Errorf("body %v", got)
	}
	got = nil
	if err := json.Unmarshal(apierror.New(404, "not_found", "", "no such event").Body(), &got); err != nil || len(got) != 1 {
		t.Errorf("body without field: %v %v", got, err)
	}
}
