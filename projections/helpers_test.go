package projections_test

import "example.com/crm"

func crmCode(err error) crm.Code { return crm.ErrorCode(err) }
