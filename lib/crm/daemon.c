/* daemon: being written */
