"""CRM tool service: the customer profile, contact details, newsletter and support tickets."""
