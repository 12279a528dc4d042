def not_a_plugin():
    return "nope"
