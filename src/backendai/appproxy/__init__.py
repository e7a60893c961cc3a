"""appproxy"""
