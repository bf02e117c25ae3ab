package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embtab/embtab/oip/inferencepb"
)

type fakeInfer struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	calls atomic.Int64
}

func (f *fakeInfer) ModelInfer(_ context.Context, r *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	if r.ModelName != "ctr" || len(r.Inputs) != 39 || len(r.RawInputContents) != 39 || r.Inputs[0].Shape[0] != 2 {
		return nil, status.Error(codes.InvalidArgument, "unexpected request")
	}
	f.calls.Add(1)
	return &inferencepb.ModelInferResponse{ModelName: r.ModelName}, nil
}

// TestGRPC: --grpc sends each generated body as one ModelInfer with one
// raw tensor per Criteo feature.
func TestGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	fake := &fakeInfer{}
	inferencepb.RegisterGRPCInferenceServiceServer(gs, fake)
	go gs.Serve(ln)
	defer gs.Stop()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--grpc", ln.Addr().String(), "--grpc-model", "ctr", "--batch", "2",
		"--requests", "200", "--concurrency", "4", "--json"}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK != 200 || rep.Errors != 0 || fake.calls.Load() != 200 {
		t.Errorf("report %+v, %d calls", rep, fake.calls.Load())
	}
	for _, args := range [][]string{{"--grpc", "10.0.0.1:8001", "--grpc-model", "ctr"}, {"--grpc", ln.Addr().String()}} {
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
