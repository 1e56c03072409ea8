BLASSetup.ensureFastKernel()
MemorySetup.keepFreedMemory()
NLNet.main()
