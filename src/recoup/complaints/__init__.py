"""Complaints, disputes, contact holds and consents (issue 15 item 8): the complaints register (投诉登记)."""
