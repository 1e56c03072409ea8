BLASSetup.ensureFastKernel()
MemorySetup.keepFreedMemory()
Conventions.main()
