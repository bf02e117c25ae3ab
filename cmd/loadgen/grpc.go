package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/embtab/embtab/oip/inferencepb"
)

// grpcSender returns ModelInfer calls of the generated bodies, built once:
// every categorical feature a BYTES tensor, every dense one FP32 (0 when
// missing), as raw_input_contents, the score output asked for.
func (o *options) grpcSender() (func(context.Context, int64) string, func(), error) {
	conn, err := grpc.NewClient(o.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("--grpc: %w", err)
	}
	client := inferencepb.NewGRPCInferenceServiceClient(conn)
	reqs := make([]*inferencepb.ModelInferRequest, len(o.insts))
	for i, inst := range o.insts {
		n := int64(len(inst))
		r := &inferencepb.ModelInferRequest{ModelName: o.GRPCModel,
			Outputs: []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "score"}}}
		for _, name := range o.cat {
			var b []byte
			for _, m := range inst {
				v, _ := m[name].(string)
				b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
				b = append(b, v...)
			}
			r.Inputs = append(r.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "BYTES", Shape: []int64{n}})
			r.RawInputContents = append(r.RawInputContents, b)
		}
		for _, name := range o.dense {
			var b []byte
			for _, m := range inst {
				v, _ := m[name].(int)
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
			}
			r.Inputs = append(r.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP32", Shape: []int64{n}})
			r.RawInputContents = append(r.RawInputContents, b)
		}
		reqs[i] = r
	}
	return func(ctx context.Context, n int64) string {
		ctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		_, err := client.ModelInfer(ctx, reqs[n%int64(len(reqs))])
		switch status.Code(err) {
		case codes.OK:
			return ""
		case codes.DeadlineExceeded:
			return "timeout"
		default:
			return "grpc_" + status.Code(err).String()
		}
	}, func() { conn.Close() }, nil
}
