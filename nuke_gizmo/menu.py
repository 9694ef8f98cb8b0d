"""bgmatte for Nuke, GUI startup: puts Background Matte in the Nodes toolbar under bgmatte."""
import nuke

import bgmatte_nuke.node

nuke.menu("Nodes").addCommand("bgmatte/Background Matte", bgmatte_nuke.node.create)
