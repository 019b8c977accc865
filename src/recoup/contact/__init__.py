"""Contact: the one vocabulary of treatments, channels, parties and outcomes (:mod:`recoup.contact.vocab`);
later the policy engine, templates, channels, outbox and dispatcher."""
