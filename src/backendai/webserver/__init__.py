"""webserver"""
