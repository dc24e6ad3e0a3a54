package projections_test

import (
	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"example.com/crm"
)

type cqrsHandler = cqrs.GroupEventHandler

func crmCode(err error) crm.Code { return crm.ErrorCode(err) }
