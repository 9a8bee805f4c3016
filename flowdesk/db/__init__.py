"""Which database a query uses: the PostgreSQL primary, or one of its streaming replicas."""
