/* inbox: being written */
