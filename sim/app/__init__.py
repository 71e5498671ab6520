"""The what-if dashboard (Solara) and the UI-free what-if layer under it; nothing else imports this
package.
"""
