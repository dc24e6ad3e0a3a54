package events

// Domain returns a registry of every domain event type at its current
// schema version. Adding an event type means adding it here; changing a
// payload means bumping its version and adding an upcaster.
func Domain() *Registry {
	r := NewRegistry()
	for _, p := range []Payload{
		UserRegistered{},
		OrganizationCreated{}, OrganizationRenamed{}, OrganizationDeleted{},
		MemberAdded{}, MemberRoleChanged{}, MemberRemoved{}, OwnershipTransferred{},
		ContactCreated{}, ContactUpdated{}, ContactDeleted{}, ContactDealLinked{}, ContactDealUnlinked{},
		DealCreated{}, DealStageChanged{}, DealStatusChanged{}, DealUpdated{}, DealDeleted{},
		DealCommented{}, DealTaskAdded{},
		TaskCreated{}, TaskUpdated{}, TaskCompleted{}, TaskReopened{}, TaskDeleted{},
	} {
		r.Register(p, 1)
	}
	return r
}
