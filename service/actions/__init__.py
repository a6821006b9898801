"""Exception workflows: the policy, customer notifications and customer-service escalations."""
