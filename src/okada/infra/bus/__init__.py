"""Message bus adapters: in-process (embedded) and RabbitMQ (distributed)."""
