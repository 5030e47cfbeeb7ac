/* outbox: being written */
