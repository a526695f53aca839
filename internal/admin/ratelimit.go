package admin

import (
	"context"

	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Limits are the client-side call rates, in calls per second per service,
// that admin keeps to so that a large fleet stays under the service quotas
// instead of relying on throttling and retries.
type Limits struct {
	IoT, SageMaker, S3, IAM float64
}

// DefaultLimits stay under the lowest AWS IoT Core per-API quota that a
// provision uses (10 per second, as DescribeEndpoint's and
// ListCertificates'), SageMaker's control-plane rate, and IAM's.
var DefaultLimits = Limits{IoT: 10, SageMaker: 4, S3: 100, IAM: 5}

func (l Limits) withDefaults() Limits {
	pick := func(v, d float64) float64 {
		if v > 0 {
			return v
		}
		return d
	}
	return Limits{
		IoT:       pick(l.IoT, DefaultLimits.IoT),
		SageMaker: pick(l.SageMaker, DefaultLimits.SageMaker),
		S3:        pick(l.S3, DefaultLimits.S3),
		IAM:       pick(l.IAM, DefaultLimits.IAM),
	}
}

// serviceLimiters hold one limiter per service.
type serviceLimiters struct {
	iot, sagemaker, s3, iam limiter
}

func (l Limits) limiters() serviceLimiters {
	return serviceLimiters{
		iot: newLimiter(l.IoT), sagemaker: newLimiter(l.SageMaker),
		s3: newLimiter(l.S3), iam: newLimiter(l.IAM),
	}
}

// limiter makes every attempt of an SDK call wait for a token, retries
// included. The burst is one: no second holds more than the rate (plus
// the call that opens it).
type limiter struct{ l *rate.Limiter }

func newLimiter(perSecond float64) limiter {
	return limiter{rate.NewLimiter(rate.Limit(perSecond), 1)}
}

// burst returns the calls the limiter lets through at once: in any second,
// at most the rate plus the burst.
func (l limiter) burst() int { return l.l.Burst() }

// middleware adds the wait to a client's stack, after the retry loop so
// that each attempt counts.
func (l limiter) middleware(stack *middleware.Stack) error {
	mw := middleware.FinalizeMiddlewareFunc("EdgeAgentRateLimit",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := l.l.Wait(ctx); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleFinalize(ctx, in)
		})
	if err := stack.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
		return stack.Finalize.Add(mw, middleware.After)
	}
	return nil
}
