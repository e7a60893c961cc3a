"""client/cli"""
